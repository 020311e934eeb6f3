"""PyTorch containers, listed: zip checkpoints, legacy files, pickle detection.

This module describes the *layout* of a PyTorch file; it never unpickles and
does not analyse the pickles it finds (``pickles_analysed`` is always
``False`` here; the pickle analyzer does that work).

* :func:`describe_torch_zip` reads a :class:`~seewhy.formats.archive.ZipListing`
  the way ``PyTorchStreamReader`` does: the folder of the *first* central
  directory entry is the archive prefix, records are looked up under it.
* :func:`is_legacy_torch` recognises the non-zip format of ``torch.save``
  (``_use_new_zipfile_serialization=False``), which begins with a pickle of
  the magic number ``0x1950a86a20f9469cfc6c``.
* :func:`is_pickle_start` guesses whether bytes begin a pickle stream by
  walking its opcodes (decoding arguments, simulating the stack and the
  memo, executing nothing) and returns its protocol.
* :func:`zip_tensors` and :func:`legacy_tensors` count a checkpoint's
  tensors, parameters and dtypes from the tensor rebuild calls the symbolic
  pickle machine records (storage, offset, shape, stride): no tensor byte
  is read and nothing is unpickled.
"""

from __future__ import annotations

import io
import pickletools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from seewhy.errors import FormatError
from seewhy.formats.interface import BytesSource, Problem, Source

if TYPE_CHECKING:  # the zip reader and the pickle machine are imported when a zip is
    # described or tensors are counted, not by the sniffer
    from seewhy.formats.archive import ZipListing, ZipMember
    from seewhy.formats.pickle_vm import PickleScan, ScanLimits, TorchTensorRef

__all__ = [
    "LEGACY_TORCH_MAGIC",
    "LEGACY_TORCH_MAGIC_NUMBER",
    "PROBLEM_CODES",
    "TORCH_DTYPES",
    "TorchStorage",
    "TorchTensors",
    "TorchZipInfo",
    "describe_torch_zip",
    "is_legacy_torch",
    "is_pickle_start",
    "legacy_tensors",
    "summarize_tensors",
    "zip_tensors",
]

PROBLEM_CODES: dict[str, str] = {
    "torch.empty": "The archive holds no members, so PyTorch cannot load it.",
    "torch.no-prefix": "The first member is not inside a folder; PyTorch takes the archive "
    "prefix from it and refuses the file.",
    "torch.outside-prefix": "A member lies outside the archive prefix; PyTorch never reads it, "
    "other tools may.",
    "torch.no-data-pkl": "There is no data.pkl under the prefix, so torch.load has nothing to "
    "load.",
    "torch.compressed-storage": "A tensor storage is compressed; PyTorch writes storages "
    "stored (uncompressed) and memory-maps them.",
    "torch.extra-member": "A member that torch.save and torch.jit.save never write.",
    "torch.bad-record": "A small record (version, byteorder) could not be read or holds an "
    "unexpected value.",
    "torch.pickles-not-analysed": "Informational: the archive holds pickles; this listing does "
    "not analyse them.",
    "torch.tensor-out-of-storage": "A tensor's offset, shape and stride reach past the end of "
    "its storage (or are negative); torch.load refuses such a tensor.",
}
"""Every problem code this module produces, with a one-line description."""

LEGACY_TORCH_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
"""The magic number legacy ``torch.save`` pickles first."""

# PROTO 2, then LONG1 with a 10-byte little-endian two's complement body. The
# number needs 73 bits, so 10 bytes; its top byte (0x19) has the sign bit clear,
# so no extra sign byte is needed.
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
"""First bytes of a legacy (non-zip) ``torch.save`` file written with protocol 2."""

_MAGIC_BODY = LEGACY_TORCH_MAGIC[4:]
_MAGIC_TEXT = b"L" + str(LEGACY_TORCH_MAGIC_NUMBER).encode("ascii") + b"L\n"
_FRAME = 0x95
_VERSION_MAX_BYTES = 64


@dataclass(frozen=True)
class TorchStorage:
    """One tensor storage record (``data/<key>``, or ``constants/<key>`` in TorchScript)."""

    key: str
    name: str
    folder: str
    size: int
    data_offset: int | None
    compressed: bool


@dataclass(frozen=True)
class TorchZipInfo:
    """The layout of a PyTorch zip archive.

    ``pickle_members`` lists every pickle record (``*.pkl`` and TorchScript
    ``*.debug_pkl``), wherever it lies; they are present and **not analysed
    here** (``pickles_analysed`` is ``False``). ``total_storage_bytes`` sums
    the uncompressed sizes of ``storages``.
    """

    prefix: str | None
    member_count: int
    pickle_members: tuple[str, ...]
    storages: tuple[TorchStorage, ...]
    total_storage_bytes: int
    is_torchscript: bool
    has_data_pkl: bool
    version: str | None
    byteorder: str | None
    problems: tuple[Problem, ...]
    pickles_analysed: bool = False


_KNOWN_RECORDS = frozenset(
    {
        "data.pkl",
        "constants.pkl",
        "bytecode.pkl",
        "version",
        "byteorder",
        ".format_version",
        ".storage_alignment",
        ".data/version",
        ".data/serialization_id",
    }
)
_KNOWN_FOLDERS = ("data/", "constants/", "code/", "extra/", ".data/")
# Folders whose contents vary (TorchScript code, extra files, tensor constants).
_OTHER_FOLDERS = ("code/", "extra/", ".data/", "constants/")
_STORAGE_FOLDERS = ("data", "constants")
_PICKLE_SUFFIXES = (".pkl", ".debug_pkl")


def describe_torch_zip(listing: ZipListing, source: Source | None = None) -> TorchZipInfo:
    """Describe a PyTorch zip archive from its listing.

    With ``source``, the small ``version`` and ``byteorder`` records are read
    (at most 64 bytes each); without it they are reported as ``None``.
    """
    problems: list[Problem] = []
    members = listing.members
    if not members:
        problems.append(Problem("torch.empty", "the archive holds no members"))
        return TorchZipInfo(None, 0, (), (), 0, False, False, None, None, tuple(problems))

    first = members[0].name
    prefix: str | None = first.split("/", 1)[0] if "/" in first else None
    if prefix is None:
        problems.append(
            Problem(
                "torch.no-prefix",
                f"the first member {first!r} is not inside a folder",
                members[0].central_offset,
                first,
            )
        )
    lead = f"{prefix}/" if prefix is not None else ""

    inside: dict[str, ZipMember] = {}
    storages: list[TorchStorage] = []
    for member in members:
        name = member.name
        if prefix is not None and not name.startswith(lead):
            problems.append(
                Problem(
                    "torch.outside-prefix",
                    f"{name!r} lies outside the archive prefix {lead!r}",
                    member.central_offset,
                    name,
                )
            )
            continue
        relative = name[len(lead) :]
        inside.setdefault(relative, member)
        storage = _storage(relative, member)
        if storage is not None:
            storages.append(storage)
            if storage.compressed:
                problems.append(
                    Problem(
                        "torch.compressed-storage",
                        f"storage {name!r} is compressed (method {member.method})",
                        member.central_offset,
                        name,
                    )
                )
        elif not _is_known(relative, member):
            problems.append(
                Problem(
                    "torch.extra-member",
                    f"{name!r} is not a record PyTorch writes",
                    member.central_offset,
                    name,
                )
            )

    has_data_pkl = "data.pkl" in inside
    if not has_data_pkl:
        problems.append(Problem("torch.no-data-pkl", f"no {lead}data.pkl in the archive"))
    pickles = tuple(m.name for m in members if m.name.endswith(_PICKLE_SUFFIXES))
    if pickles:
        problems.append(
            Problem(
                "torch.pickles-not-analysed",
                f"{len(pickles)} pickle records are present and not analysed here: "
                + ", ".join(pickles[:10])
                + (", ..." if len(pickles) > 10 else ""),
            )
        )
    is_torchscript = "constants.pkl" in inside or any(
        relative.startswith("code/") for relative in inside
    )

    version: str | None = None
    byteorder: str | None = None
    if source is not None:
        version_member = inside.get(".data/version") or inside.get("version")
        if version_member is not None:
            version = _small_record(source, version_member, problems)
            if version is not None and not version.isdigit():
                problems.append(
                    Problem(
                        "torch.bad-record",
                        f"the version record holds {version!r}, not a number",
                        version_member.data_offset,
                        version_member.name,
                    )
                )
        byteorder_member = inside.get("byteorder")
        if byteorder_member is not None:
            byteorder = _small_record(source, byteorder_member, problems)
            if byteorder is not None and byteorder not in ("little", "big"):
                problems.append(
                    Problem(
                        "torch.bad-record",
                        f"the byteorder record holds {byteorder!r}",
                        byteorder_member.data_offset,
                        byteorder_member.name,
                    )
                )

    return TorchZipInfo(
        prefix=prefix,
        member_count=len(members),
        pickle_members=pickles,
        storages=tuple(storages),
        total_storage_bytes=sum(storage.size for storage in storages),
        is_torchscript=is_torchscript,
        has_data_pkl=has_data_pkl,
        version=version,
        byteorder=byteorder,
        problems=tuple(problems),
    )


def _storage(relative: str, member: ZipMember) -> TorchStorage | None:
    """The storage a member holds, when it is ``data/<key>`` or ``constants/<key>``."""
    from seewhy.formats.archive import METHOD_STORED

    folder, _, key = relative.partition("/")
    if folder not in _STORAGE_FOLDERS or not key or "/" in key or member.is_dir:
        return None
    return TorchStorage(
        key=key,
        name=member.name,
        folder=folder,
        size=member.uncompressed_size,
        data_offset=member.data_offset,
        compressed=member.method != METHOD_STORED,
    )


def _is_known(relative: str, member: ZipMember) -> bool:
    """Whether a member under the prefix is one PyTorch writes."""
    if relative in _KNOWN_RECORDS or relative == "":
        return True
    if member.is_dir:
        return relative in _KNOWN_FOLDERS
    return relative.startswith(_OTHER_FOLDERS)


def _small_record(source: Source, member: ZipMember, problems: list[Problem]) -> str | None:
    """Read a short ASCII record, or record why it could not be read."""
    from seewhy.formats.archive import read_member

    try:
        data = read_member(source, member, max_bytes=_VERSION_MAX_BYTES)
    except FormatError as error:
        problems.append(
            Problem(
                "torch.bad-record",
                f"cannot read {member.name!r}: {error.message}",
                member.data_offset,
                member.name,
            )
        )
        return None
    text = data.decode("ascii", errors="replace").strip()
    return text


def is_legacy_torch(head: bytes) -> bool:
    """Whether ``head`` starts a legacy (non-zip) ``torch.save`` file.

    Such files begin with a pickle of :data:`LEGACY_TORCH_MAGIC_NUMBER`:
    ``\\x80\\x02\\x8a\\x0a`` and the 10-byte little-endian number with the
    default protocol 2 (:data:`LEGACY_TORCH_MAGIC`); protocols 3 to 5 change
    the protocol byte (4 and 5 add a FRAME opcode first); protocols 0 and 1
    write the number as a decimal ``LONG`` line.
    """
    if head.startswith(LEGACY_TORCH_MAGIC):
        return True
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        position = 2
        if head[1] >= 4 and len(head) > position and head[position] == _FRAME:
            position += 9
        return head[position : position + 2 + len(_MAGIC_BODY)] == b"\x8a\x0a" + _MAGIC_BODY
    return head.startswith(_MAGIC_TEXT)


# ---------------------------------------------------------------------------
# Pickle detection
# ---------------------------------------------------------------------------

_OPCODES: dict[int, pickletools.OpcodeInfo] = {
    ord(opcode.code): opcode for opcode in pickletools.opcodes
}
# Opcodes pickle writers put first when they write no PROTO (protocols 0 and 1),
# and the binary ones a hand-made pickle without PROTO may start with.
_FIRST_OPCODES = frozenset(b"(}])cILSVNKJMGFXUTBCq") | frozenset(
    b"\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x95\x96"
)
_SCAN_LIMIT = 1 << 16
_MIN_OPS = 3
_MANY_OPS = 8
_MAX_PICKLES = 16
_TEXT_RATIO = 0.95
_PRINTABLE = frozenset(range(0x20, 0x7F)) | frozenset(b"\t\n\r")
# Protocol 0 writes text; UNICODE arguments may hold raw latin-1 bytes.
_TEXT_BYTES = _PRINTABLE | frozenset(range(0xA0, 0x100))
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_GLOBALS = frozenset({"GLOBAL", "INST", "STACK_GLOBAL"})


@dataclass
class _Scan:
    """How far a pickle opcode walk got."""

    ops: int = 0
    outcome: str = "end"  # "end" | "stop" | "truncated" | "invalid"
    end: int = 0
    max_proto: int = 0
    has_global: bool = False
    has_memo: bool = False


class _Invalid(Exception):
    """The bytes cannot be this opcode here."""


def _argument(opcode: pickletools.OpcodeInfo, data: bytes, position: int) -> tuple[int, object]:
    """Decode an opcode's argument at ``position``; return its end and value.

    Raises :class:`_Invalid` for bad arguments and :class:`EOFError` when the
    argument runs past the end of ``data``.
    """
    descriptor = opcode.arg
    if descriptor is None:
        return position, None
    n = descriptor.n
    if n >= 0:
        need = n
    elif n == pickletools.UP_TO_NEWLINE:
        lines = 2 if descriptor.name == "stringnl_noescape_pair" else 1
        end = position
        for _ in range(lines):
            newline = data.find(b"\n", end)
            if newline < 0:
                raise EOFError
            end = newline + 1
        need = end - position
    else:
        width = {
            pickletools.TAKEN_FROM_ARGUMENT1: 1,
            pickletools.TAKEN_FROM_ARGUMENT4: 4,
            pickletools.TAKEN_FROM_ARGUMENT4U: 4,
            pickletools.TAKEN_FROM_ARGUMENT8U: 8,
        }[n]
        if position + width > len(data):
            raise EOFError
        length = int.from_bytes(
            data[position : position + width],
            "little",
            signed=n == pickletools.TAKEN_FROM_ARGUMENT4,
        )
        if length < 0:
            raise _Invalid
        need = width + length
    if position + need > len(data):
        raise EOFError
    stream = io.BytesIO(data[position : position + need])
    try:
        value = descriptor.reader(stream)
    except (ValueError, OverflowError, UnicodeError) as error:
        raise _Invalid from error
    if stream.tell() != need:
        raise _Invalid
    if opcode.name in ("GLOBAL", "INST"):
        parts = str(value).split(" ")
        if len(parts) != 2 or not all(_IDENTIFIER.fullmatch(part) for part in parts):
            raise _Invalid
    return position + need, value


class _Stack:
    """The pickle machine's stack, counted: its depth and where the marks are."""

    def __init__(self) -> None:
        self.depth = 0
        self.marks: list[int] = []
        self.memo: set[object] = set()

    def above_mark(self) -> int:
        """Items above the topmost mark (all items when there is none)."""
        return self.depth - (self.marks[-1] if self.marks else 0)

    def apply(self, opcode: pickletools.OpcodeInfo, value: object) -> None:
        """Simulate an opcode's effect on the stack and memo, or raise :class:`_Invalid`."""
        before = opcode.stack_before
        uses_mark = pickletools.markobject in before
        if uses_mark or (opcode.name == "POP" and self.marks and self.above_mark() == 0):
            if not self.marks:
                raise _Invalid
            self.depth = self.marks.pop()
            count = before.index(pickletools.markobject) if uses_mark else 0
        else:
            count = len(before)
        if count > self.above_mark():
            raise _Invalid
        # PUT and MEMOIZE store the top of the stack (pickletools models them
        # as popping and pushing it back): it must exist before it is popped.
        self.depth -= count
        if opcode.name in _PUTS or opcode.name == "MEMOIZE":
            self.memo.add(len(self.memo) if opcode.name == "MEMOIZE" else value)
        elif opcode.name in _GETS and value not in self.memo:
            raise _Invalid
        for produced in opcode.stack_after:
            if produced is pickletools.markobject:
                self.marks.append(self.depth)
            else:
                self.depth += 1


def _scan_pickle(data: bytes, start: int) -> _Scan:
    """Walk pickle opcodes from ``start`` without executing anything."""
    scan = _Scan(end=start)
    stack = _Stack()
    position = start
    while position < len(data):
        opcode = _OPCODES.get(data[position])
        if opcode is None:
            scan.outcome = "invalid"
            return scan
        try:
            after, value = _argument(opcode, data, position + 1)
            if opcode.name == "STOP":
                if stack.depth != 1 or stack.marks:
                    raise _Invalid
                scan.outcome = "stop"
                scan.end = after
                return scan
            stack.apply(opcode, value)
        except EOFError:
            scan.outcome = "truncated"
            return scan
        except _Invalid:
            scan.outcome = "invalid"
            return scan
        scan.ops += 1
        scan.end = position = after
        scan.max_proto = max(scan.max_proto, opcode.proto)
        scan.has_global = scan.has_global or opcode.name in _GLOBALS
        scan.has_memo = scan.has_memo or opcode.name in _PUTS or opcode.name == "MEMOIZE"
    return scan


def _scan_stream(data: bytes, start: int) -> _Scan:
    """Walk consecutive pickles (as legacy torch files hold) from ``start``."""
    total = _Scan(end=start)
    position = start
    for _ in range(_MAX_PICKLES):
        scan = _scan_pickle(data, position)
        total.ops += scan.ops
        total.outcome = scan.outcome
        total.end = scan.end
        total.max_proto = max(total.max_proto, scan.max_proto)
        total.has_global = total.has_global or scan.has_global
        total.has_memo = total.has_memo or scan.has_memo
        if scan.outcome != "stop" or scan.end >= len(data):
            break
        position = scan.end
    return total


def is_pickle_start(head: bytes) -> int | None:
    """Guess whether ``head`` begins a pickle stream; return its protocol or ``None``.

    A PROTO opcode (``0x80``) with a protocol of 0 to 5 answers for itself,
    as long as the opcodes after it are valid. Without PROTO (protocols 0 and
    1), the first opcode must be one pickle writers start with, and either
    complete pickles fill ``head`` or at least three opcodes (over up to 16
    consecutive pickles) decode and
    keep the stack consistent, among them a memo store or a global (as
    pickle writers produce) unless there are eight or more; text-only
    streams must be mostly printable,
    streams with binary opcodes must hold some non-printable byte (unless
    one complete pickle fills ``head``). A pickle whose first opcode carries
    an argument longer than ``head`` (one huge string) is missed without
    PROTO. Plain
    text, JSON, markdown and source code are not pickles by this test.
    Nothing is executed: arguments are decoded by :mod:`pickletools`
    readers and the stack is only counted.
    """
    data = head[:_SCAN_LIMIT]
    if not data:
        return None
    if data[0] == 0x80:
        if len(data) < 2 or data[1] > 5:
            return None
        scan = _scan_stream(data, 2)
        if scan.outcome == "invalid" and scan.ops < 2:
            return None
        return data[1]
    if data[0] not in _FIRST_OPCODES:
        return None
    scan = _scan_stream(data, 0)
    whole = scan.outcome == "stop" and scan.end == len(data)
    if scan.outcome == "invalid" and not (scan.ops >= _MIN_OPS and scan.has_global):
        return None
    if not whole and (
        scan.ops < _MIN_OPS or not (scan.has_memo or scan.has_global or scan.ops >= _MANY_OPS)
    ):
        return None
    region = data[: scan.end]
    if scan.max_proto == 0:
        text = sum(1 for byte in region if byte in _TEXT_BYTES)
        if text < _TEXT_RATIO * len(region):
            return None
    elif all(byte in _PRINTABLE for byte in region) and not (whole and len(region) <= 4):
        return None
    return scan.max_proto


# ---------------------------------------------------------------------------
# Tensor facts from the pickle's rebuild calls
# ---------------------------------------------------------------------------

TORCH_DTYPES: dict[str, str] = {
    "DoubleStorage": "F64",
    "FloatStorage": "F32",
    "HalfStorage": "F16",
    "BFloat16Storage": "BF16",
    "LongStorage": "I64",
    "IntStorage": "I32",
    "ShortStorage": "I16",
    "CharStorage": "I8",
    "ByteStorage": "U8",
    "BoolStorage": "BOOL",
    "ComplexDoubleStorage": "C128",
    "ComplexFloatStorage": "C64",
    "QInt8Storage": "QINT8",
    "QUInt8Storage": "QUINT8",
    "QInt32Storage": "QINT32",
    "QUInt4x2Storage": "QUINT4X2",
    "QUInt2x4Storage": "QUINT2X4",
    "float64": "F64",
    "float32": "F32",
    "float16": "F16",
    "bfloat16": "BF16",
    "int64": "I64",
    "int32": "I32",
    "int16": "I16",
    "int8": "I8",
    "uint8": "U8",
    "uint16": "U16",
    "uint32": "U32",
    "uint64": "U64",
    "bool": "BOOL",
    "complex64": "C64",
    "complex128": "C128",
    "float8_e4m3fn": "F8_E4M3",
    "float8_e5m2": "F8_E5M2",
}
"""Storage classes (typed storages) and dtype names (``_rebuild_tensor_v3``) → the dtype
labels safetensors uses, so that facts from both formats add up."""

_MAX_DATA_PKL_BYTES = 256 << 20
"""Cap on a compressed ``data.pkl`` inflated to count tensors (stored ones are read in place)."""

_LEGACY_OBJECT_PICKLE = 3
"""Legacy ``torch.save``: the object is the fourth of five pickles."""


@dataclass(frozen=True)
class TorchTensors:
    """Tensor facts of a checkpoint, counted from the pickle without reading tensor bytes.

    ``tensors`` counts the distinct tensors ``torch.load`` rebuilds (one
    per ``torch._utils._rebuild_tensor*`` call): a tensor object the pickle
    shares through its memo is built once, and two tensors with the same
    storage, offset, shape and stride (tied weights, which ``state_dict()``
    writes as two tensors over one storage) are one tensor, as the tied
    weights of a safetensors file are stored once. Views that differ (a row
    of a matrix) are distinct tensors, each counted by its own shape.
    ``parameters`` is the sum of the distinct tensors' element counts, as
    safetensors counts the tensors of a file, and ``by_dtype`` splits it by
    dtype (safetensors labels, :data:`TORCH_DTYPES`). ``uncounted``
    tensors have a shape or storage the pickle does not give as constants.
    ``complete`` is ``True`` when the pickle was walked to its end and every
    tensor was counted; otherwise ``reason`` says why and the counts are a
    lower bound.
    """

    tensors: int
    parameters: int
    by_dtype: dict[str, int]
    storages: int
    uncounted: int
    complete: bool
    reason: str = ""
    problems: tuple[Problem, ...] = ()


def summarize_tensors(
    refs: tuple[TorchTensorRef, ...] | list[TorchTensorRef],
    *,
    walked: bool = True,
    why: str = "",
) -> TorchTensors:
    """Count tensors, parameters and dtypes from rebuild records.

    ``walked`` says whether the pickle was read to its end (``why`` says why
    not); bounds of each view against its storage are checked.
    """
    parameters = 0
    by_dtype: dict[str, int] = {}
    storages: set[str] = set()
    seen: set[tuple[object, ...]] = set()
    uncounted = 0
    problems: list[Problem] = []
    for ref in refs:
        storage = ref.storage
        dtype_name = ref.dtype or (storage.storage_type if storage is not None else None)
        if ref.shape is None or storage is None or dtype_name is None:
            uncounted += 1
            continue
        view = (storage.key, ref.storage_offset, ref.shape, ref.stride, dtype_name)
        if view in seen:
            continue
        seen.add(view)
        numel = 1
        for dim in ref.shape:
            numel *= max(dim, 0)
        storages.add(storage.key)
        parameters += numel
        label = TORCH_DTYPES.get(dtype_name, dtype_name)
        by_dtype[label] = by_dtype.get(label, 0) + numel
        problem = _bounds_problem(ref)
        if problem is not None and len(problems) < 20:
            problems.append(problem)
    reasons = [why] if why else []
    if uncounted:
        reasons.append(f"{uncounted} tensor(s) with no constant shape or storage")
    return TorchTensors(
        tensors=len(seen) + uncounted,
        parameters=parameters,
        by_dtype=by_dtype,
        storages=len(storages),
        uncounted=uncounted,
        complete=walked and not uncounted,
        reason="; ".join(reasons),
        problems=tuple(problems),
    )


def _bounds_problem(ref: TorchTensorRef) -> Problem | None:
    """A problem when the view ``ref`` describes does not fit in its storage."""
    storage = ref.storage
    if storage is None or ref.shape is None or ref.stride is None or ref.storage_offset is None:
        return None
    shape, stride, offset = ref.shape, ref.stride, ref.storage_offset
    bad = (
        len(shape) != len(stride)
        or offset < 0
        or any(d < 0 for d in shape)
        or any(s < 0 for s in stride)
    )
    if not bad and all(d > 0 for d in shape):
        last = offset + sum((d - 1) * s for d, s in zip(shape, stride, strict=True))
        bad = last >= storage.numel
    if not bad:
        return None
    return Problem(
        "torch.tensor-out-of-storage",
        f"the tensor rebuilt at pickle offset {ref.offset} (offset {offset}, shape "
        f"{list(shape)}, stride {list(stride)}) does not fit in storage {storage.key!r} of "
        f"{storage.numel:,} elements",
        ref.offset,
        storage.key,
    )


def _from_scan(scan: PickleScan, pickle_index: int) -> TorchTensors:
    refs = [t for t in scan.tensors if t.pickle_index == pickle_index]
    why = ""
    if not scan.complete:
        first = next(iter(scan.errors), None)
        why = "the pickle was not walked to its end" + (f" ({first.message})" if first else "")
    return summarize_tensors(refs, walked=scan.complete, why=why)


def zip_tensors(
    source: Source, listing: ZipListing, info: TorchZipInfo, limits: ScanLimits | None = None
) -> TorchTensors | None:
    """Count the tensors of a ``torch.save`` zip from its ``data.pkl`` (``None`` without one).

    A stored ``data.pkl`` is walked in place; a compressed one is inflated up
    to 256 MiB. Raises :class:`~seewhy.errors.FormatError` when it cannot be
    read.
    """
    from seewhy.formats.archive import METHOD_STORED, read_member

    if not info.has_data_pkl:
        return None
    lead = f"{info.prefix}/" if info.prefix is not None else ""
    member = next((m for m in listing.members if m.name == f"{lead}data.pkl"), None)
    if member is None:
        return None
    if (
        member.method == METHOD_STORED
        and member.data_offset is not None
        and member.data_offset + member.compressed_size <= source.size
    ):
        stream, start, end = source, member.data_offset, member.data_offset + member.compressed_size
    else:
        body = read_member(source, member, max_bytes=_MAX_DATA_PKL_BYTES)
        stream, start, end = BytesSource(body), 0, len(body)
    from seewhy.formats.pickle_vm import scan_pickle

    scan = scan_pickle(stream, start, end, limits=limits, expected=1)
    return _from_scan(scan, 0)


def legacy_tensors(source: Source, limits: ScanLimits | None = None) -> TorchTensors:
    """Count the tensors of a legacy (non-zip) ``torch.save`` file from its object pickle."""
    from seewhy.formats.pickle_vm import scan_pickle

    scan = scan_pickle(source, 0, limits=limits, max_pickles=5, expected=5)
    if len(scan.pickles) <= _LEGACY_OBJECT_PICKLE:
        return summarize_tensors(
            [], walked=False, why=f"only {len(scan.pickles)} of the 5 legacy pickles were read"
        )
    return _from_scan(scan, _LEGACY_OBJECT_PICKLE)
