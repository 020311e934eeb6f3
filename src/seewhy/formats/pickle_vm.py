"""A symbolic pickle machine: what ``pickle.load`` would import and call, without loading.

:func:`scan_pickle` walks a pickle stream opcode by opcode the way CPython's
unpickler (``Modules/_pickle.c``, and ``Lib/pickle.py`` where they agree)
does, with a stack, a mark stack and a memo of *symbolic* values. Nothing is
imported, called or unpickled: a GLOBAL becomes a :class:`GlobalRef`, a
REDUCE a :class:`CallSite` whose result is an opaque value. The scan
describes; it never judges (the security analyzer applies the policy).

What it models, and why:

* **Every opcode of protocols 0 to 5**, with the C unpickler's argument
  rules (quoted STRING, signed lengths, ``int`` digit limits, STACK_GLOBAL
  needing two ``str``, POP popping a mark, the mark fence).
* **FRAME as CPython runs it.** The C unpickler of CPython 3.11 checks that
  the frame's bytes exist and then reads opcodes on, ignoring where the
  frame ends when it reads from memory (``pickle.loads``). When it reads from
  a file object without ``peek`` (``torch.load``'s ``io.BytesIO``), the frame
  is its buffer: a read that runs past the frame's end *drops* the frame's
  remaining bytes and continues after the frame, so bytes that a
  disassembler (``pickletools``) sees as an argument are run as opcodes. A
  frame that disagrees with its contents is reported
  (``pickle.frame-mismatch``) and the pickle is walked a second time under
  that reading; what that walk finds is returned as a nested scan.
* **Memo and STACK_GLOBAL**: operands are followed through GET/PUT/MEMOIZE;
  an operand that is not a constant string (a value computed at load time)
  is recorded with ``constant=False``.
* **Every call site**: REDUCE, INST, OBJ, NEWOBJ, NEWOBJ_EX, BUILD
  (``__setstate__`` or a ``__dict__`` update), EXT1/2/4 (copyreg extension
  codes), PERSID/BINPERSID, and the method calls that APPEND(S), SETITEM(S)
  and ADDITEMS make on objects that are not plain containers.
* **Stacked pickles** (legacy ``torch.save`` writes five back to back) and
  what follows them (``pickle.trailing-data``). Each is walked with a fresh
  memo, as ``pickle.load`` called again reads it; where a later pickle
  depends on the memo earlier ones left (a GET of an index only they
  stored, or MEMOIZE numbering on from their entries), the stack is walked
  again from there as one reused ``Unpickler`` reads it, whose ``load()``
  keeps the memo (``pickle.shared-memo``); that reading is a nested scan.
* **Deep values**: the walk and every conversion of its values are
  iterative, so a pickle nesting containers far beyond Python's recursion
  limit (CPython loads those) is walked to its end.
* **Nested pickles**: a constant passed to a loads-like callable
  (``pickle.loads``, ``torch.load``, ...) is scanned recursively, also when
  the call chain decodes it first (base64, hex, zlib, bz2, lzma, codecs,
  ``bytes.fromhex``); decoding is bounded and pure.
* **joblib** streams (``joblib=True``): after the BUILD of a
  ``NumpyArrayWrapper`` joblib reads the array's raw bytes (after an
  alignment pad) or an inline pickle of an object array from the stream;
  both are stepped over as joblib does, and the layout is checked.

Everything is bounded by :class:`ScanLimits`: operations, stack depth, memo
size, symbolic object size (billion-laughs expansion), line length, bytes
held in memory, records and nesting depth. A cap that is reached stops the
scan with a ``pickle.cap-exceeded`` or ``pickle.expansion`` problem and
``complete=False``: fail closed. A malformed stream stops where CPython
would stop, and everything recorded before the error is kept. The walk runs
in time linear in the bytes it reads.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import codecs
import lzma
import math
import struct
import sys
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from seewhy.formats.interface import BytesSource, Problem, Source
from seewhy.formats.pickle_limits import ScanLimits

__all__ = [
    "DECODERS",
    "JOBLIB_WRAPPERS",
    "LOADERS",
    "PROBLEM_CODES",
    "CallSite",
    "GlobalRef",
    "PersistentRef",
    "PickleInfo",
    "PickleScan",
    "ScanLimits",
    "TorchStorageRef",
    "TorchTensorRef",
    "opcode_names",
    "scan_pickle",
    "scan_pickle_bytes",
]

PROBLEM_CODES: dict[str, str] = {
    "pickle.truncated": "The pickle stream ends inside an opcode or before STOP.",
    "pickle.invalid-opcode": "A byte that is no pickle opcode; CPython stops with "
    "'invalid load key'.",
    "pickle.bad-argument": "An opcode's argument is malformed (unquoted STRING, bad number, "
    "bad UTF-8, negative length, unsupported protocol).",
    "pickle.stack-underflow": "An opcode pops more than the stack holds above the last mark, "
    "or needs a mark that is not there.",
    "pickle.bad-memo": "GET of a memo index never stored, or PUT with a negative index.",
    "pickle.bad-operand": "An opcode's operands have the wrong type (STACK_GLOBAL with "
    "non-strings, odd DICT/SETITEMS, NEWOBJ without a tuple).",
    "pickle.unsupported": "The stream needs what a plain loader does not give (out-of-band "
    "buffers); CPython stops there.",
    "pickle.frame-mismatch": "A FRAME's length disagrees with the opcodes inside it: an opcode "
    "runs past the frame's end, a frame begins before the last one ended, or the frame runs "
    "past the data. CPython versions and readers then run different opcodes.",
    "pickle.misplaced-proto": "PROTO appears more than once or not first.",
    "pickle.trailing-data": "Bytes follow the last pickle the loader reads.",
    "pickle.extra-pickles": "More pickles follow the ones the loader reads.",
    "pickle.shared-memo": "A stacked pickle uses memo entries an earlier pickle set (GET of "
    "an index it never stored, or MEMOIZE after the earlier pickles filled the memo): a fresh "
    "unpickler fails or reads it otherwise, one Unpickler whose load() is called again reads it "
    "with the earlier memo.",
    "pickle.cap-exceeded": "The scan reached a limit (operations, stack, memo, line length, "
    "records, bytes) and stopped before the end: the rest is not analysed.",
    "pickle.expansion": "The symbolic object graph expands far beyond the operations that "
    "built it (billion-laughs memo abuse), or a memo index is far beyond the memo.",
    "pickle.nested-limit": "A nested pickle could not be scanned: too deep, too large, or "
    "its encoded form could not be decoded within the limits.",
    "pickle.joblib-layout": "A joblib array record does not have the layout joblib writes "
    "(unknown dtype, bad alignment pad, array bytes past the end, a frame left open).",
}
"""Every problem code this module produces, with a one-line description."""

# ---------------------------------------------------------------- knowledge

LOADERS: Final[frozenset[str]] = frozenset(
    {
        "pickle.loads",
        "pickle._loads",
        "pickle.load",
        "pickle._load",
        "_pickle.loads",
        "_pickle.load",
        "cPickle.loads",
        "cPickle.load",
        "dill.loads",
        "dill.load",
        "dill._dill.loads",
        "dill._dill.load",
        "cloudpickle.loads",
        "cloudpickle.load",
        "cloudpickle.cloudpickle.loads",
        "numpy.loads",
        "numpy.core.numeric.loads",
        "torch.load",
        "torch.storage._load_from_bytes",
        "torch.serialization.load",
        "torch.serialization._load",
        "torch.serialization._legacy_load",
        "joblib.load",
        "joblib.numpy_pickle.load",
        "pandas.read_pickle",
        "pandas.io.pickle.read_pickle",
    }
)
"""Callables that unpickle their first argument (bytes, or a file over bytes)."""

JOBLIB_WRAPPERS: Final[frozenset[str]] = frozenset(
    {
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
    }
)
"""Classes whose BUILD makes joblib read an array's bytes from the stream."""

_NUMPY_DTYPES: Final[frozenset[str]] = frozenset({"numpy.dtype", "numpy.core.multiarray.dtype"})

# Python 2 names that ``fix_imports`` maps for protocols 0-2 (Lib/_compat_pickle.py).
try:
    import _compat_pickle

    _NAME_MAPPING: dict[tuple[str, str], tuple[str, str]] = dict(_compat_pickle.NAME_MAPPING)
    _IMPORT_MAPPING: dict[str, str] = dict(_compat_pickle.IMPORT_MAPPING)
except ImportError:  # pragma: no cover - part of CPython
    _NAME_MAPPING = {}
    _IMPORT_MAPPING = {"__builtin__": "builtins", "copy_reg": "copyreg", "cPickle": "pickle"}

_INT_DIGITS: Final = 4300  # sys.get_int_max_str_digits() default: CPython refuses longer
_MAX_UNICODE: Final = sys.maxunicode


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class GlobalRef:
    """A global the unpickler would look up with ``find_class`` (or an extension code).

    ``module`` and ``name`` are as written (STACK_GLOBAL: its operands);
    ``None`` where an operand is not a known string. ``constant`` is
    ``False`` when an operand was computed at load time. ``resolved_via``
    says how the operands were found: ``"inline"`` (GLOBAL/INST),
    ``"stack"``, ``"memo 3, memo 4"``, ``"computed: ..."`` or
    ``"extension code 42"``. ``protocol`` is the PROTO in force (it decides
    Python 2 name mapping and dotted-name lookup).
    """

    module: str | None
    name: str | None
    offset: int
    opcode: str
    resolved_via: str
    constant: bool = True
    protocol: int = 0
    index: int = 0
    pickle_index: int = 0

    @property
    def qualname(self) -> str:
        """``module.name`` with ``?`` for an unknown part."""
        return f"{self.module if self.module is not None else '?'}.{self.name or '?'}"


@dataclass(frozen=True)
class CallSite:
    """One place where loading calls something.

    ``kind`` is ``reduce``, ``inst``, ``obj``, ``newobj``, ``newobj_ex``,
    ``build`` (``__setstate__`` or a ``__dict__`` update on ``receiver``),
    ``ext``, ``persid``, or ``setitem``/``append``/``additems`` (methods
    called on an object that is not a plain container). ``callable`` is the
    global called (for ``build``, the class of the object built) or
    ``None``; ``callable_kind`` says what was called: ``global``,
    ``call-result`` (a value computed at load time), ``persistent``,
    ``extension``, ``constant`` or ``unknown``. ``receiver`` (BUILD and
    method calls) is ``instance``, ``global``, ``call-result``,
    ``persistent`` or ``unknown``. ``arg_globals`` are globals passed as
    top-level arguments; ``const_args`` the arguments when all are plain
    constants.
    """

    kind: str
    callable: GlobalRef | None
    offset: int
    args_summary: str
    opcode: str
    callable_kind: str = "global"
    receiver: str = ""
    arg_globals: tuple[GlobalRef | None, ...] = ()
    const_args: tuple[object, ...] | None = None
    pickle_index: int = 0


@dataclass(frozen=True)
class TorchStorageRef:
    """A persistent id of the form ``('storage', storage_type, key, location, numel[, view])``."""

    storage_module: str
    storage_type: str
    key: str
    location: str
    numel: int
    legacy: bool


@dataclass(frozen=True)
class PersistentRef:
    """A persistent id handed to the loader's ``persistent_load``."""

    offset: int
    opcode: str
    summary: str
    storage: TorchStorageRef | None = None
    typename: str | None = None
    pickle_index: int = 0


@dataclass(frozen=True)
class TorchTensorRef:
    """A tensor ``torch.load`` rebuilds from a storage (``torch._utils._rebuild_tensor_v2``).

    Recorded for every call of a ``torch._utils._rebuild_*`` function (and
    ``torch._tensor._rebuild_from_type_v2`` wrapping one), parameters and
    their wrappers excepted. ``storage`` is the storage's persistent id,
    ``storage_offset``, ``shape`` and ``stride`` the call's constant
    arguments (``None`` where an argument is not a constant of the expected
    type, or for rebuilders without a storage); ``dtype`` is the dtype
    argument of ``_rebuild_tensor_v3`` (``"float32"``). Nothing about the
    tensor's bytes is read.
    """

    offset: int
    rebuilder: str
    storage: TorchStorageRef | None
    storage_offset: int | None
    shape: tuple[int, ...] | None
    stride: tuple[int, ...] | None
    dtype: str | None = None
    pickle_index: int = 0


@dataclass(frozen=True)
class PickleInfo:
    """One pickle of a stream: where it lies and how its walk ended."""

    index: int
    start: int
    end: int
    protocol: int | None
    ops: int
    complete: bool
    result: str = ""
    frames: int = 0
    error: Problem | None = None
    value: object = None
    """The result as plain Python data when it is built of constants only (small), else None."""


@dataclass(frozen=True)
class PickleScan:
    """What :func:`scan_pickle` found in one stream.

    ``complete`` is ``True`` only when every pickle the loader reads was
    walked to its STOP with no cap reached and every nested pickle is
    complete too; ``truncated`` when a cap or budget stopped the walk.
    ``errors`` are the problems that stopped a pickle (CPython stops there
    too), ``problems`` the ones it walks past. ``nested`` holds the scans of
    pickles inside this one (``origin`` says where each came from).
    ``bytes_consumed`` counts from ``start`` to the end of the last pickle
    walked (including joblib array bytes stepped over).
    """

    start: int
    pickles: tuple[PickleInfo, ...]
    globals: tuple[GlobalRef, ...]
    calls: tuple[CallSite, ...]
    persistent_ids: tuple[PersistentRef, ...]
    nested: tuple[PickleScan, ...]
    errors: tuple[Problem, ...]
    problems: tuple[Problem, ...]
    complete: bool
    truncated: bool
    protocol: int | None
    bytes_consumed: int
    ops: int = 0
    origin: str = ""
    origin_offset: int | None = None
    depth: int = 0
    joblib_arrays: int = 0
    kind: str = "stream"
    """``stream`` (the file's own), ``nested`` (an argument of a loads-like call),
    ``joblib-inline`` (an object array joblib pickles after its wrapper),
    ``frame-divergent`` (a second reading of a pickle whose frames disagree),
    ``shared-memo`` (stacked pickles read again as one reused Unpickler reads them,
    the memo carried from one to the next, where a fresh unpickler fails) or
    ``shared-memo-shifted`` (the same, where each pickle also stands on its own and
    the reused Unpickler only numbers its MEMOIZE entries differently)."""
    loader: str = ""
    """For ``nested`` scans: the loads-like callable that unpickles them."""
    tensors: tuple[TorchTensorRef, ...] = ()
    """Tensors rebuilt from storages (torch checkpoints), in the order they are built."""

    @property
    def all_problems(self) -> tuple[Problem, ...]:
        """Errors and problems together, in the order they were met."""
        return tuple(sorted((*self.errors, *self.problems), key=lambda p: p.offset or 0))

    def walk(self) -> tuple[PickleScan, ...]:
        """This scan and every nested scan, depth first."""
        out: list[PickleScan] = [self]
        for inner in self.nested:
            out.extend(inner.walk())
        return tuple(out)


# ---------------------------------------------------------------- symbolic values


class _Node:
    """A symbolic value; ``size`` is its expanded size (shared parts counted each time)."""

    __slots__ = ("size",)

    def __init__(self, size: int = 1) -> None:
        self.size = size


class _Tuple(_Node):
    __slots__ = ("items",)

    def __init__(self, items: tuple[object, ...]) -> None:
        super().__init__(1 + sum(_size(item) for item in items))
        self.items = items


class _List(_Node):
    __slots__ = ("items",)

    def __init__(self, items: list[object]) -> None:
        super().__init__(1 + sum(_size(item) for item in items))
        self.items = items


class _Dict(_Node):
    __slots__ = ("items",)

    def __init__(self, items: list[tuple[object, object]]) -> None:
        super().__init__(1 + sum(_size(k) + _size(v) for k, v in items))
        self.items = items

    def get(self, key: str) -> object:
        """The value of a constant key (last one wins), or ``_MISSING``."""
        found: object = _MISSING
        for k, v in self.items:
            if k == key and type(k) is str:
                found = v
        return found


class _Set(_Node):
    __slots__ = ("frozen", "items")

    def __init__(self, items: list[object], frozen: bool) -> None:
        super().__init__(1 + sum(_size(item) for item in items))
        self.items = items
        self.frozen = frozen


class _Global(_Node):
    __slots__ = ("ref",)

    def __init__(self, ref: GlobalRef) -> None:
        super().__init__()
        self.ref = ref


class _Call(_Node):
    """The result of a call site; ``value`` is its result when computed statically."""

    __slots__ = ("args", "func", "kind", "site", "state", "value")

    def __init__(self, kind: str, func: object, args: object, site: int, value: object) -> None:
        super().__init__(1 + _size(args))
        self.kind = kind
        self.func = func
        self.args = args
        self.site = site
        self.value = value
        self.state: object = _MISSING


class _Persistent(_Node):
    __slots__ = ("pid",)

    def __init__(self, pid: object) -> None:
        super().__init__(1 + _size(pid))
        self.pid = pid


class _Blob(_Node):
    """A string or bytes constant too long to hold: stepped over, position kept."""

    __slots__ = ("kind", "length", "offset")

    def __init__(self, kind: str, offset: int, length: int) -> None:
        super().__init__()
        self.kind = kind
        self.offset = offset
        self.length = length


class _ByteArray(_Node):
    __slots__ = ("data",)

    def __init__(self, data: bytes | None) -> None:
        super().__init__()
        self.data = data


class _Opaque(_Node):
    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what


class _FileOver(_Node):
    """``io.BytesIO(data)``: a file object over known bytes (for ``pickle.load``)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data


_MISSING: Final = object()
_UNKNOWN: Final = object()


def _size(value: object) -> int:
    return value.size if isinstance(value, _Node) else 1


# ---------------------------------------------------------------- errors


class _Stop(Exception):
    """The walk of one pickle ends here (STOP or an error)."""

    def __init__(self, problem: Problem | None = None, *, cap: bool = False) -> None:
        super().__init__(problem.message if problem else "stop")
        self.problem = problem
        self.cap = cap


def _error(code: str, message: str, offset: int, opcode: str | None = None) -> _Stop:
    excerpt = opcode if opcode else None
    return _Stop(Problem(code, message, offset, excerpt=excerpt))


# ---------------------------------------------------------------- reader

_CHUNK: Final = 1 << 20
_FIRST_CHUNK: Final = 1 << 14


class _Reader:
    """Reads a byte range the way the C unpickler does.

    ``file_mode`` False: reading from memory (``pickle.loads``): frames do
    not matter. ``file_mode`` True: reading from a file object without
    ``peek``: ``[pos, buf_end)`` is the unpickler's buffer (a frame after
    FRAME); a read that does not fit drops the rest of the buffer and reads
    from ``buf_end`` on, except the reads that go through ``readinto``
    (counted bytes), which take the rest and continue.
    """

    __slots__ = (
        "_chunk",
        "_chunk_end",
        "_chunk_size",
        "_chunk_start",
        "buf_end",
        "end",
        "file_mode",
        "pos",
        "source",
    )

    def __init__(self, source: Source, start: int, end: int, file_mode: bool) -> None:
        self.source = source
        self.pos = start
        self.end = end
        self.file_mode = file_mode
        self.buf_end = start
        self._chunk = b""
        self._chunk_start = 0
        self._chunk_end = 0
        self._chunk_size = _FIRST_CHUNK

    def _fetch(self, pos: int, n: int) -> bytes:
        start = self._chunk_start
        if pos >= start and pos + n <= self._chunk_end:
            return self._chunk[pos - start : pos - start + n]
        if n >= _CHUNK:
            data = self.source.read_at(pos, n)
        else:
            # Small pickles are read in small chunks; long streams in growing ones.
            size = max(n, self._chunk_size)
            self._chunk_size = min(self._chunk_size * 2, _CHUNK)
            chunk = self.source.read_at(pos, min(size, self.end - pos))
            self._chunk, self._chunk_start, self._chunk_end = chunk, pos, pos + len(chunk)
            data = chunk[:n]
        if len(data) != n:
            raise _error("pickle.truncated", "short read from the source", pos)
        return data

    def _start(self, n: int, into: bool) -> int:
        """Where a read of ``n`` bytes starts; moves the buffer in file mode."""
        pos = self.pos
        if self.file_mode and pos + n > self.buf_end and not into:
            pos = self.buf_end
        if pos + n > self.end:
            raise _error(
                "pickle.truncated",
                f"needs {n} bytes at offset {pos}; {max(self.end - pos, 0)} remain",
                pos,
            )
        return pos

    def read(self, n: int, into: bool = False) -> bytes:
        """Read ``n`` bytes (``into``: the ``readinto`` path of counted bytes)."""
        pos = self._start(n, into)
        data = self._fetch(pos, n) if n else b""
        self.pos = pos + n
        if self.pos > self.buf_end:
            self.buf_end = self.pos
        return data

    def skip(self, n: int, into: bool = False) -> int:
        """Step over ``n`` bytes without reading them; return where they start."""
        pos = self._start(n, into)
        self.pos = pos + n
        if self.pos > self.buf_end:
            self.buf_end = self.pos
        return pos

    def byte(self) -> int:
        """Read one byte (an opcode)."""
        pos = self.pos
        if (
            (self.file_mode and pos >= self.buf_end)
            or pos >= self._chunk_end
            or pos < self._chunk_start
        ):
            return self.read(1)[0]
        self.pos = pos + 1
        return self._chunk[pos - self._chunk_start]

    def _find_newline(self, start: int, stop: int) -> int:
        position = start
        step = 4096
        while position < stop:
            length = min(step, stop - position)
            block = self._fetch(position, length)
            index = block.find(b"\n")
            if index >= 0:
                return position + index
            position += length
            step = min(step * 2, _CHUNK // 2)
        return -1

    def readline(self, max_line: int) -> bytes:
        """Read a line; return it without its ``\\n``."""
        pos = self.pos
        if self.file_mode:
            index = self._find_newline(pos, self.buf_end) if pos < self.buf_end else -1
            if index < 0:
                pos = self.buf_end
        else:
            index = -1
        if index < 0:
            stop = min(self.end, pos + max_line + 1)
            index = self._find_newline(pos, stop)
            if index < 0:
                if stop < self.end:
                    raise _Stop(
                        Problem(
                            "pickle.cap-exceeded",
                            f"a line argument is longer than {max_line} bytes",
                            pos,
                        ),
                        cap=True,
                    )
                raise _error("pickle.truncated", "the stream ends inside a line argument", pos)
        line = self._fetch(pos, index - pos) if index > pos else b""
        self.pos = index + 1
        if self.pos > self.buf_end:
            self.buf_end = self.pos
        return line


# ---------------------------------------------------------------- the machine

_OPNAMES: dict[int, str] = {}


def opcode_names() -> dict[int, str]:
    """Opcode byte → name for every opcode of protocols 0-5."""
    if not _OPNAMES:
        import pickletools

        for op in pickletools.opcodes:
            _OPNAMES[op.code.encode("latin-1")[0]] = op.name
    return dict(_OPNAMES)


@dataclass
class _Records:
    """What the walks of one stream collect."""

    limits: ScanLimits
    globals: list[GlobalRef] = field(default_factory=list)
    calls: list[CallSite] = field(default_factory=list)
    persistent: list[PersistentRef] = field(default_factory=list)
    tensors: list[TorchTensorRef] = field(default_factory=list)
    nested: list[PickleScan] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    truncated: bool = False
    nested_complete: bool = True
    joblib_arrays: int = 0
    decode_budget: int = 0
    _problem_counts: dict[str, int] = field(default_factory=dict)

    def problem(self, problem: Problem) -> None:
        count = self._problem_counts.get(problem.code, 0) + 1
        self._problem_counts[problem.code] = count
        if count <= 20:
            self.problems.append(problem)

    def full(self) -> bool:
        total = len(self.globals) + len(self.calls) + len(self.persistent) + len(self.tensors)
        return total >= self.limits.max_records


class _Machine:
    """Walks one pickle; records go to a shared :class:`_Records`."""

    def __init__(
        self,
        reader: _Reader,
        records: _Records,
        *,
        pickle_index: int,
        depth: int,
        joblib: bool,
        extensions: Mapping[int, tuple[str, str]],
        budget: list[int],
        track_frames: bool,
        memo: dict[int, object] | None = None,
        inherited: Mapping[int, object] | None = None,
    ) -> None:
        self.r = reader
        self.rec = records
        self.limits = records.limits
        self.pickle_index = pickle_index
        self.depth = depth
        self.joblib = joblib
        self.extensions = extensions
        self.budget = budget  # [ops left], shared by the stream
        self.track_frames = track_frames
        self.stack: list[object] = []
        self.marks: list[int] = []
        self.memo: dict[int, object] = {} if memo is None else memo
        # The memo the earlier pickles of the stream left (a fresh unpickler does not see
        # it; one Unpickler whose load() is called again does). Used only to notice
        # that the two readings part: ``diverges`` then says where and how.
        self.inherited: Mapping[int, object] = inherited or {}
        self.diverges: str | None = None
        self.gets = 0
        self.got: dict[int, int] = {}  # stack position → memo index it came from
        self.proto = 0
        self.protos: list[int] = []
        self.ops = 0
        self.frames = 0
        self.frame_end: int | None = None
        self.frame_problem = False
        self.op_pos = reader.pos
        self.opname = ""
        self.work = 0
        self._first = reader.pos

    # ------------------------------------------------------------ helpers

    def _fail(self, code: str, message: str) -> _Stop:
        return _error(code, message, self.op_pos, self.opname)

    def _fence(self) -> int:
        return self.marks[-1] if self.marks else 0

    def _pop(self) -> object:
        if len(self.stack) <= self._fence():
            raise self._fail("pickle.stack-underflow", f"{self.opname} on an empty stack")
        return self.stack.pop()

    def _top(self) -> object:
        if len(self.stack) <= self._fence():
            raise self._fail("pickle.stack-underflow", f"{self.opname} on an empty stack")
        return self.stack[-1]

    def _push(self, value: object) -> None:
        self.stack.append(value)
        if len(self.stack) > self.limits.max_stack:
            raise _Stop(
                Problem(
                    "pickle.cap-exceeded",
                    f"the stack holds more than {self.limits.max_stack} items",
                    self.op_pos,
                    excerpt=self.opname,
                ),
                cap=True,
            )
        if isinstance(value, _Node):
            self._check_expansion(value.size)

    def _check_expansion(self, size: int) -> None:
        if size > self.limits.max_expansion and size > 16 * (self.work + self.ops):
            raise _Stop(
                Problem(
                    "pickle.expansion",
                    f"a value built from {self.ops} operations expands to more than "
                    f"{self.limits.max_expansion:,} items (shared references repeated: "
                    "billion-laughs memo abuse)",
                    self.op_pos,
                    excerpt=self.opname,
                ),
                cap=True,
            )

    def _pop_mark(self) -> list[object]:
        if not self.marks:
            raise self._fail("pickle.stack-underflow", f"{self.opname} without a MARK")
        k = self.marks.pop()
        items = self.stack[k:]
        del self.stack[k:]
        self.work += len(items)
        return items

    def _arg_int(self, data: bytes, signed: bool = False) -> int:
        return int.from_bytes(data, "little", signed=signed)

    def _check_room(self) -> None:
        if self.rec.full():
            raise _Stop(
                Problem(
                    "pickle.cap-exceeded",
                    f"more than {self.limits.max_records} globals, calls and persistent ids",
                    self.op_pos,
                    excerpt=self.opname,
                ),
                cap=True,
            )

    # ------------------------------------------------------------ records

    def _global(
        self, module: str | None, name: str | None, via: str, constant: bool = True
    ) -> GlobalRef:
        self._check_room()
        ref = GlobalRef(
            module=module,
            name=name,
            offset=self.op_pos,
            opcode=self.opname,
            resolved_via=via,
            constant=constant,
            protocol=self.proto,
            index=len(self.rec.globals),
            pickle_index=self.pickle_index,
        )
        self.rec.globals.append(ref)
        return ref

    def _call(
        self,
        kind: str,
        func: object,
        args: object,
        *,
        receiver: str = "",
    ) -> int:
        self._check_room()
        callable_ref, callable_kind = _describe_callable(func)
        top = args.items if isinstance(args, _Tuple) else (args,) if args is not None else ()
        arg_globals = tuple(item.ref if isinstance(item, _Global) else None for item in top)
        const_args: tuple[object, ...] | None = None
        if isinstance(args, _Tuple) and all(_is_plain(item) for item in args.items):
            const_args = tuple(_clip_const(item) for item in args.items)
        site = CallSite(
            kind=kind,
            callable=callable_ref,
            offset=self.op_pos,
            args_summary=_render(args, 0),
            opcode=self.opname,
            callable_kind="loader" if kind == "persid" else callable_kind,
            receiver=receiver,
            arg_globals=arg_globals if any(g is not None for g in arg_globals) else (),
            const_args=const_args,
            pickle_index=self.pickle_index,
        )
        self.rec.calls.append(site)
        return len(self.rec.calls) - 1

    # ------------------------------------------------------------ the walk

    def run(self) -> PickleInfo:
        """Walk one pickle to its STOP or error; return what it was."""
        r = self.r
        start = r.pos
        handlers = _HANDLERS
        names = opcode_names()
        error: Problem | None = None
        complete = False
        result = ""
        plain: object = None
        try:
            while True:
                if self.budget[0] <= 0:
                    raise _Stop(
                        Problem(
                            "pickle.cap-exceeded",
                            f"the scan's budget of {self.limits.max_ops:,} operations is spent",
                            r.pos,
                        ),
                        cap=True,
                    )
                self.budget[0] -= 1
                self.ops += 1
                pos = r.pos
                self.op_pos = pos
                if self.frame_end is not None and pos >= self.frame_end:
                    self.frame_end = None
                code = r.byte()
                handler = handlers.get(code)
                if handler is None:
                    self.opname = f"0x{code:02x}"
                    raise _error(
                        "pickle.invalid-opcode",
                        f"invalid load key {bytes([code])!r} at offset {pos}",
                        pos,
                        self.opname,
                    )
                self.opname = names[code]
                if code == 0x2E:  # STOP
                    value = self._pop()
                    result = _render(value, 0)
                    plain = _plain(value, [4096])
                    complete = True
                    break
                handler(self)
                if (
                    self.frame_end is not None
                    and r.pos > self.frame_end
                    and not self.file_mode_frame
                ):
                    self._frame_straddle(pos)
        except _Stop as stop:
            error = stop.problem
            if stop.cap:
                self.rec.truncated = True
        if self.frame_end is not None and complete and r.pos < self.frame_end:
            self._frame_issue(
                r.pos, f"the pickle stops {self.frame_end - r.pos} bytes before its frame ends"
            )
        return PickleInfo(
            index=self.pickle_index,
            start=start,
            end=r.pos,
            protocol=self.protos[0] if self.protos else None,
            ops=self.ops,
            complete=complete,
            result=result,
            frames=self.frames,
            error=error,
            value=None if plain is _UNKNOWN else plain,
        )

    @property
    def file_mode_frame(self) -> bool:
        return self.r.file_mode or not self.track_frames

    def _frame_issue(self, offset: int, message: str) -> None:
        self.frame_problem = True
        self.rec.problem(Problem("pickle.frame-mismatch", message, offset, excerpt="FRAME"))

    def _frame_straddle(self, pos: int) -> None:
        assert self.frame_end is not None
        self._frame_issue(
            pos,
            f"{self.opname} at offset {pos} runs {self.r.pos - self.frame_end} bytes past the "
            f"end of its frame (offset {self.frame_end}): CPython 3.11 reading a file continues "
            "after the frame, pickletools and the Python unpickler read otherwise",
        )
        self.frame_end = None

    # ------------------------------------------------------------ opcodes

    def op_proto(self) -> None:
        value = self.r.read(1)[0]
        if value > 5:
            raise self._fail("pickle.bad-argument", f"unsupported pickle protocol: {value}")
        if self.protos or self.op_pos != self._first:
            self.rec.problem(
                Problem(
                    "pickle.misplaced-proto",
                    f"PROTO {value} at offset {self.op_pos} is not the pickle's first opcode"
                    + (f" (protocol was {self.proto})" if self.protos else ""),
                    self.op_pos,
                    excerpt=f"PROTO {value}",
                )
            )
        self.protos.append(value)
        self.proto = value

    def op_frame(self) -> None:
        length = self._arg_int(self.r.read(8))
        if length > sys.maxsize:
            raise self._fail("pickle.bad-argument", f"frame size {length} exceeds sys.maxsize")
        self.frames += 1
        r = self.r
        if r.file_mode:
            if r.pos + length > r.buf_end:
                r.pos = r.buf_end
                if r.pos + length > r.end:
                    raise self._fail(
                        "pickle.truncated", f"FRAME of {length} bytes runs past the data"
                    )
                r.buf_end = r.pos + length
            return
        if not self.track_frames:
            return
        if self.frame_end is not None:
            if r.pos > self.frame_end:
                self._frame_straddle(self.op_pos)
            elif r.pos < self.frame_end:
                self._frame_issue(
                    self.op_pos,
                    f"FRAME at offset {self.op_pos} begins {self.frame_end - r.pos} bytes before "
                    "the previous frame ends",
                )
        if r.pos + length > r.end:
            self._frame_issue(
                self.op_pos,
                f"FRAME at offset {self.op_pos} declares {length} bytes; "
                f"{r.end - r.pos} remain (the C unpickler stops here, the Python one goes on)",
            )
        self.frame_end = r.pos + length

    def op_stop(self) -> None:  # pragma: no cover - handled in run()
        raise AssertionError

    # constants

    def op_none(self) -> None:
        self._push(None)

    def op_true(self) -> None:
        self._push(True)

    def op_false(self) -> None:
        self._push(False)

    def op_int(self) -> None:
        line = self.r.readline(self.limits.max_line)
        if line == b"00":
            self._push(False)
        elif line == b"01":
            self._push(True)
        else:
            self._push(self._parse_int(line, c_style=True))

    def _parse_int(self, text: bytes, c_style: bool) -> int:
        digits = text.strip()
        if len(digits) > _INT_DIGITS + 4:
            raise self._fail("pickle.bad-argument", f"integer literal of {len(digits)} digits")
        try:
            return int(digits, 0)
        except ValueError:
            pass
        if c_style:
            value = _strtol(digits)
            if value is not None:
                return value
        raise self._fail("pickle.bad-argument", f"could not convert {_clip(text)!r} to int")

    def op_binint(self) -> None:
        self._push(self._arg_int(self.r.read(4), signed=True))

    def op_binint1(self) -> None:
        self._push(self.r.read(1)[0])

    def op_binint2(self) -> None:
        self._push(self._arg_int(self.r.read(2)))

    def op_long(self) -> None:
        line = self.r.readline(self.limits.max_line)
        if len(line) > 1 and line.endswith(b"L"):
            line = line[:-1]
        self._push(self._parse_int(line, c_style=False))

    def op_long1(self) -> None:
        n = self.r.read(1)[0]
        self._push(self._arg_int(self.r.read(n), signed=True))

    def op_long4(self) -> None:
        n = self._arg_int(self.r.read(4), signed=True)
        if n < 0:
            raise self._fail("pickle.bad-argument", "LONG pickle has negative byte count")
        if n > self.limits.max_inline_bytes:
            raise _Stop(
                Problem(
                    "pickle.cap-exceeded",
                    f"LONG4 of {n} bytes is beyond the scan's limit",
                    self.op_pos,
                    excerpt=self.opname,
                ),
                cap=True,
            )
        self._push(self._arg_int(self.r.read(n), signed=True))

    def op_float(self) -> None:
        line = self.r.readline(self.limits.max_line)
        try:
            self._push(float(line))
        except ValueError as exc:
            raise self._fail("pickle.bad-argument", f"bad FLOAT {_clip(line)!r}") from exc

    def op_binfloat(self) -> None:
        self._push(struct.unpack(">d", self.r.read(8))[0])

    # strings and bytes

    def _counted(self, width: int, signed: bool, into: bool) -> tuple[int, bytes | None, int]:
        n = self._arg_int(self.r.read(width), signed=signed) if width > 1 else self.r.read(1)[0]
        if n < 0:
            raise self._fail("pickle.bad-argument", f"{self.opname} has a negative length")
        if n > self.limits.max_inline_bytes:
            at = self.r.skip(n, into=into)
            return n, None, at
        at = self.r.pos
        data = self.r.read(n, into=into)
        return n, data, at

    def _string(self, width: int, signed: bool = False) -> None:
        n, data, at = self._counted(width, signed, into=False)
        if data is None:
            self._push(_Blob("str", at, n))
        else:
            self._push(data.decode("latin-1"))

    def op_binstring(self) -> None:
        self._string(4, signed=True)

    def op_short_binstring(self) -> None:
        self._string(1)

    def op_string(self) -> None:
        line = self.r.readline(self.limits.max_line).rstrip(b"\r")
        if len(line) < 2 or line[0] != line[-1] or line[0] not in b"\"'":
            raise self._fail("pickle.bad-argument", "the STRING opcode argument must be quoted")
        try:
            value = codecs.escape_decode(line[1:-1])[0]
        except ValueError as exc:
            raise self._fail("pickle.bad-argument", f"bad STRING escape: {exc}") from exc
        self._push(value.decode("latin-1"))

    def _bytes(self, width: int) -> None:
        n, data, at = self._counted(width, False, into=True)
        self._push(_Blob("bytes", at, n) if data is None else data)

    def op_binbytes(self) -> None:
        self._bytes(4)

    def op_short_binbytes(self) -> None:
        self._bytes(1)

    def op_binbytes8(self) -> None:
        self._bytes(8)

    def op_bytearray8(self) -> None:
        _, data, _ = self._counted(8, False, into=True)
        self._push(_ByteArray(data))

    def _unicode(self, width: int) -> None:
        n, data, at = self._counted(width, False, into=False)
        if data is None:
            self._push(_Blob("str", at, n))
            return
        try:
            self._push(data.decode("utf-8", "surrogatepass"))
        except UnicodeDecodeError as exc:
            raise self._fail("pickle.bad-argument", f"{self.opname} is not UTF-8: {exc}") from exc

    def op_binunicode(self) -> None:
        self._unicode(4)

    def op_short_binunicode(self) -> None:
        self._unicode(1)

    def op_binunicode8(self) -> None:
        self._unicode(8)

    def op_unicode(self) -> None:
        line = self.r.readline(self.limits.max_line)
        try:
            self._push(line.decode("raw-unicode-escape"))
        except UnicodeDecodeError as exc:
            raise self._fail("pickle.bad-argument", f"bad UNICODE escape: {exc}") from exc

    # containers

    def op_empty_tuple(self) -> None:
        self._push(_Tuple(()))

    def op_tuple(self) -> None:
        self._push(_Tuple(tuple(self._pop_mark())))

    def op_tuple1(self) -> None:
        a = self._pop()
        self._push(_Tuple((a,)))

    def op_tuple2(self) -> None:
        b = self._pop()
        a = self._pop()
        self._push(_Tuple((a, b)))

    def op_tuple3(self) -> None:
        c = self._pop()
        b = self._pop()
        a = self._pop()
        self._push(_Tuple((a, b, c)))

    def op_empty_list(self) -> None:
        self._push(_List([]))

    def op_list(self) -> None:
        self._push(_List(self._pop_mark()))

    def op_empty_dict(self) -> None:
        self._push(_Dict([]))

    def op_dict(self) -> None:
        items = self._pop_mark()
        if len(items) % 2:
            raise self._fail("pickle.bad-operand", "odd number of items for DICT")
        self._push(_Dict(list(zip(items[::2], items[1::2], strict=True))))

    def op_empty_set(self) -> None:
        self._push(_Set([], frozen=False))

    def op_frozenset(self) -> None:
        self._push(_Set(self._pop_mark(), frozen=True))

    def _grow(self, target: object, added: int) -> None:
        if isinstance(target, _Node):
            target.size += added
            self._check_expansion(target.size)

    def _method_call(self, kind: str, target: object, items: list[object]) -> None:
        """APPEND/SETITEM/ADD on something that is not a plain container: a method call."""
        if isinstance(target, _Global | _Persistent | _Opaque):
            self._call(kind, target, _Tuple(tuple(items)), receiver=_receiver_kind(target))
        elif isinstance(target, _Call) or (kind == "setitem" and isinstance(target, _List)):
            return  # an object the pickle built: its maker was judged at its call site
        else:
            # CPython looks the method up; a constant or the wrong container has none.
            raise self._fail(
                "pickle.bad-operand", f"{self.opname} on {_render(target, 1)}, not a container"
            )

    def op_append(self) -> None:
        value = self._pop()
        target = self._top()
        if isinstance(target, _List):
            target.items.append(value)
            self._grow(target, _size(value))
        else:
            self._method_call("append", target, [value])

    def op_appends(self) -> None:
        items = self._pop_mark()
        target = self._top()
        if isinstance(target, _List):
            target.items.extend(items)
            self._grow(target, sum(_size(i) for i in items))
        else:
            self._method_call("append", target, items)

    def op_setitem(self) -> None:
        value = self._pop()
        key = self._pop()
        target = self._top()
        if isinstance(target, _Dict):
            target.items.append((key, value))
            self._grow(target, _size(key) + _size(value))
        else:
            self._method_call("setitem", target, [key, value])

    def op_setitems(self) -> None:
        items = self._pop_mark()
        target = self._top()
        if len(items) % 2:
            raise self._fail("pickle.bad-operand", "odd number of items for SETITEMS")
        if isinstance(target, _Dict):
            pairs = list(zip(items[::2], items[1::2], strict=True))
            target.items.extend(pairs)
            self._grow(target, sum(_size(i) for i in items))
        else:
            self._method_call("setitem", target, items)

    def op_additems(self) -> None:
        items = self._pop_mark()
        target = self._top()
        if isinstance(target, _Set) and not target.frozen:
            target.items.extend(items)
            self._grow(target, sum(_size(i) for i in items))
        else:
            self._method_call("additems", target, items)

    # stack

    def op_mark(self) -> None:
        self.marks.append(len(self.stack))
        if len(self.marks) > self.limits.max_stack:
            raise _Stop(
                Problem(
                    "pickle.cap-exceeded",
                    f"more than {self.limits.max_stack} marks",
                    self.op_pos,
                    excerpt=self.opname,
                ),
                cap=True,
            )

    def op_pop(self) -> None:
        if self.marks and self.marks[-1] == len(self.stack):
            self.marks.pop()
        else:
            self._pop()

    def op_pop_mark(self) -> None:
        self._pop_mark()

    def op_dup(self) -> None:
        self._push(self._top())

    # memo

    def _get(self, index: int) -> None:
        self.gets += 1
        if index not in self.memo:
            if index in self.inherited:
                # The decisive difference: a fresh unpickler fails here.
                self.diverges = (
                    f"{self.opname} {index} at offset {self.op_pos} reads a memo entry that an "
                    "earlier pickle stored"
                )
            raise self._fail("pickle.bad-memo", f"memo value not found at index {index}")
        value = self.memo[index]
        self.got[len(self.stack)] = index
        self._push(value)

    def _put(self, index: int) -> None:
        if index < 0:
            raise self._fail("pickle.bad-memo", f"negative {self.opname} argument")
        value = self._top()
        if index not in self.memo and len(self.memo) >= self.limits.max_memo:
            raise _Stop(
                Problem(
                    "pickle.cap-exceeded",
                    f"the memo holds more than {self.limits.max_memo} values",
                    self.op_pos,
                    excerpt=self.opname,
                ),
                cap=True,
            )
        if index > self.limits.max_memo_index and index > 64 * (len(self.memo) + 1):
            self.rec.problem(
                Problem(
                    "pickle.expansion",
                    f"{self.opname} {index} with {len(self.memo)} values in the memo: the C "
                    "unpickler sizes its memo table by the index (memory exhaustion)",
                    self.op_pos,
                    excerpt=f"{self.opname} {index}",
                )
            )
        self.memo[index] = value

    def op_get(self) -> None:
        self._get(self._parse_int(self.r.readline(self.limits.max_line), c_style=False))

    def op_binget(self) -> None:
        self._get(self.r.read(1)[0])

    def op_long_binget(self) -> None:
        self._get(self._arg_int(self.r.read(4)))

    def op_put(self) -> None:
        self._put(self._parse_int(self.r.readline(self.limits.max_line), c_style=False))

    def op_binput(self) -> None:
        self._put(self.r.read(1)[0])

    def op_long_binput(self) -> None:
        self._put(self._arg_int(self.r.read(4)))

    def op_memoize(self) -> None:
        if self.inherited and self.diverges is None:
            self.diverges = (
                f"MEMOIZE at offset {self.op_pos} stores at index {len(self.memo)} for a fresh "
                f"unpickler, at {len(self.memo) + len(self.inherited)} or beyond after the "
                "earlier pickles"
            )
        self._put(len(self.memo))

    # globals

    def _names(self, decode: str) -> tuple[str, str]:
        module = self.r.readline(self.limits.max_line)
        name = self.r.readline(self.limits.max_line)
        try:
            return module.decode(decode), name.decode(decode)
        except UnicodeDecodeError as exc:
            raise self._fail(
                "pickle.bad-argument", f"{self.opname} names are not {decode}: {exc}"
            ) from exc

    def op_global(self) -> None:
        module, name = self._names("utf-8")
        self._push(_Global(self._global(module, name, "inline")))

    def op_stack_global(self) -> None:
        base = len(self.stack)
        name = self._pop()
        module = self._pop()
        via = [self._memo_note(base - 2, module), self._memo_note(base - 1, name)]
        if type(module) is str and type(name) is str:
            notes = [v for v in via if v]
            ref = self._global(module, name, ", ".join(notes) if notes else "stack")
        elif _stringish(module) and _stringish(name):
            ref = self._global(
                _computed_text(module),
                _computed_text(name),
                "computed: " + ", ".join(_render(v, 1) for v in (module, name)),
                constant=False,
            )
        else:
            raise self._fail(
                "pickle.bad-operand",
                f"STACK_GLOBAL requires str, got {_render(module, 1)} and {_render(name, 1)}",
            )
        self._push(_Global(ref))

    def _memo_note(self, position: int, value: object) -> str:
        index = self.got.get(position)
        if index is not None and self.memo.get(index) is value:
            return f"memo {index}"
        return ""

    def op_inst(self) -> None:
        module, name = self._names("ascii")
        ref = self._global(module, name, "inline")
        items = self._pop_mark()
        func = _Global(ref)
        args = _Tuple(tuple(items))
        site = self._call("inst", func, args)
        self._push(self._result("inst", func, args, site))

    def op_obj(self) -> None:
        items = self._pop_mark()
        if not items:
            raise self._fail("pickle.stack-underflow", "OBJ without a class")
        func = items[0]
        args = _Tuple(tuple(items[1:]))
        site = self._call("obj", func, args)
        self._push(self._result("obj", func, args, site))

    def op_newobj(self) -> None:
        args = self._pop()
        cls = self._pop()
        if not _tuple_like(args):
            raise self._fail("pickle.bad-operand", "NEWOBJ expected an arg tuple")
        site = self._call("newobj", cls, args)
        self._push(_Call("newobj", cls, args, site, _UNKNOWN))

    def op_newobj_ex(self) -> None:
        kwargs = self._pop()
        args = self._pop()
        cls = self._pop()
        if not _tuple_like(args) or not _dict_like(kwargs):
            raise self._fail(
                "pickle.bad-operand", "NEWOBJ_EX expected an arg tuple and a kwargs dict"
            )
        everything = _Tuple((*(args.items if isinstance(args, _Tuple) else (args,)), kwargs))
        site = self._call("newobj_ex", cls, everything)
        self._push(_Call("newobj_ex", cls, everything, site, _UNKNOWN))

    def op_reduce(self) -> None:
        args = self._pop()
        func = self._top()
        site = self._call("reduce", func, args)
        self._tensor(func, args)
        self.stack[-1] = self._result("reduce", func, args, site)

    def _tensor(self, func: object, args: object) -> None:
        """Record a torch tensor rebuild (storage, offset, shape, stride); see TorchTensorRef."""
        name = _effective_name(func)
        if name is None or not (name.startswith(_REBUILD_PREFIX) or name == _REBUILD_FROM_TYPE):
            return
        if name.startswith(_REBUILD_PARAMETER):
            return  # wraps a tensor rebuilt (and recorded) on its own
        items = args.items if isinstance(args, _Tuple) else ()
        if name == _REBUILD_FROM_TYPE:
            # _rebuild_from_type_v2(func, new_type, args, state): the inner call is not a REDUCE.
            inner = _effective_name(items[0]) if items else None
            if inner is None or len(items) < 3 or not isinstance(items[2], _Tuple):
                return
            name, items = inner, items[2].items
            if not name.startswith(_REBUILD_PREFIX) or name.startswith(_REBUILD_PARAMETER):
                return
        storage: TorchStorageRef | None = None
        offset = shape = stride = dtype = None
        if name in _STORAGE_REBUILDERS and len(items) >= 4:
            first = items[0]
            if isinstance(first, _Persistent):
                storage, _ = _torch_storage(first.pid)
            offset = items[1] if type(items[1]) is int else None
            shape = _int_tuple(items[2])
            stride = _int_tuple(items[3])
            if name.endswith("_v3") and len(items) >= 7 and isinstance(items[6], _Global):
                dtype = items[6].ref.name
        self._check_room()
        self.rec.tensors.append(
            TorchTensorRef(
                offset=self.op_pos,
                rebuilder=name,
                storage=storage,
                storage_offset=offset,
                shape=shape,
                stride=stride,
                dtype=dtype,
                pickle_index=self.pickle_index,
            )
        )

    def op_build(self) -> None:
        state = self._pop()
        target = self._top()
        cls: object = None
        if isinstance(target, _Call):
            cls = target.func
            target.state = state
        elif isinstance(target, _Global | _Persistent | _Opaque):
            cls = target
        else:
            cls = None
        receiver = _receiver_kind(target)
        self._call("build", cls, _Tuple((state,)), receiver=receiver)
        if (
            self.joblib
            and isinstance(target, _Call)
            and isinstance(target.func, _Global)
            and target.func.ref.qualname in JOBLIB_WRAPPERS
        ):
            self._joblib_array(target, state)

    def _ext(self, code: int) -> None:
        if code <= 0:
            raise self._fail("pickle.bad-argument", f"EXT specifies code {code} <= 0")
        known = self.extensions.get(code)
        module, name = known if known else (None, None)
        ref = self._global(module, name, f"extension code {code}", constant=known is not None)
        func = _Global(ref)
        self._call("ext", func, _Tuple((code,)))
        self._push(func)

    def op_ext1(self) -> None:
        self._ext(self.r.read(1)[0])

    def op_ext2(self) -> None:
        self._ext(self._arg_int(self.r.read(2)))

    def op_ext4(self) -> None:
        self._ext(self._arg_int(self.r.read(4), signed=True))

    # persistent ids and buffers

    def _persistent(self, pid: object) -> None:
        self._check_room()
        storage, typename = _torch_storage(pid)
        self.rec.persistent.append(
            PersistentRef(
                offset=self.op_pos,
                opcode=self.opname,
                summary=_render(pid, 0),
                storage=storage,
                typename=typename,
                pickle_index=self.pickle_index,
            )
        )
        self._call("persid", None, _Tuple((pid,)))
        self._push(_Persistent(pid))

    def op_persid(self) -> None:
        line = self.r.readline(self.limits.max_line)
        try:
            pid = line.decode("ascii")
        except UnicodeDecodeError as exc:
            raise self._fail(
                "pickle.bad-argument", "persistent IDs in protocol 0 must be ASCII strings"
            ) from exc
        self._persistent(pid)

    def op_binpersid(self) -> None:
        self._persistent(self._pop())

    def op_next_buffer(self) -> None:
        raise self._fail(
            "pickle.unsupported",
            "NEXT_BUFFER: the pickle refers to out-of-band data; loaders that pass no "
            "buffers stop here",
        )

    def op_readonly_buffer(self) -> None:
        top = self._top()
        if top is None or isinstance(top, bool | int | float | str | _Tuple | _List | _Dict):
            raise self._fail("pickle.bad-operand", "READONLY_BUFFER on a non-buffer")

    # ------------------------------------------------------------ call results

    def _result(self, kind: str, func: object, args: object, site: int) -> _Call:
        """The value a call leaves: computed when the callable is a pure decoder."""
        value: object = _UNKNOWN
        qualname = _effective_name(func)
        if qualname is not None and isinstance(args, _Tuple):
            decoder = DECODERS.get(qualname)
            if decoder is not None and self.rec.decode_budget > 0:
                value = _decode(decoder, args.items, self.limits.max_nested_bytes)
                spent = len(value) if isinstance(value, str | bytes) else 0
                self.rec.decode_budget -= spent
                if self.rec.decode_budget <= 0:
                    value = _UNKNOWN
                    self.rec.nested_complete = False
                    self.rec.problem(
                        Problem(
                            "pickle.nested-limit",
                            "values decoded at load time exceed the scan's budget of "
                            f"{2 * self.limits.max_nested_bytes:,} bytes; later ones are not "
                            "followed",
                            self.op_pos,
                            excerpt=self.opname,
                        )
                    )
            if qualname in LOADERS and args.items:
                self._nested(qualname, args.items[0])
        return _Call(kind, func, args, site, value)

    def _nested(self, loader: str, argument: object) -> None:
        takes_file = loader.rsplit(".", 1)[-1] in ("load", "_load", "_legacy_load", "read_pickle")
        data = _bytes_value(argument, file=takes_file)
        if data is None:
            return
        limits = self.limits
        if self.depth + 1 > limits.max_nested_depth or len(self.rec.nested) >= limits.max_nested:
            self.rec.nested_complete = False
            self.rec.problem(
                Problem(
                    "pickle.nested-limit",
                    f"a pickle passed to {loader} is nested deeper than "
                    f"{limits.max_nested_depth} levels (or too many nested pickles); not scanned",
                    self.op_pos,
                    excerpt=self.opname,
                )
            )
            return
        how = _provenance(argument)
        if data.startswith(b"PK\x03\x04"):
            inner = _scan_zip_pickles(data, limits, self.extensions, self.depth + 1)
        else:
            inner = scan_pickle(
                BytesSource(data),
                limits=limits,
                max_pickles=1,
                joblib=loader.startswith("joblib"),
                extensions=self.extensions,
                _depth=self.depth + 1,
            )
        self.rec.nested.append(
            replace(
                inner,
                origin=f"argument of {loader} at offset {self.op_pos}{how}",
                origin_offset=self.op_pos,
                kind="nested",
                loader=loader,
            )
        )
        if not inner.complete:
            self.rec.nested_complete = False

    # ------------------------------------------------------------ joblib

    def _joblib_array(self, wrapper: _Call, state: object) -> None:
        """Step over the array joblib reads after a NumpyArrayWrapper's BUILD."""
        r = self.r
        if self.frame_end is not None and r.pos < self.frame_end:
            raise self._fail(
                "pickle.joblib-layout",
                "a joblib array record ends inside a frame; joblib reads the array after the frame",
            )
        if not isinstance(state, _Dict):
            raise self._fail("pickle.joblib-layout", "the array wrapper's state is not a dict")
        shape = state.get("shape")
        dtype = state.get("dtype")
        alignment = state.get("numpy_array_alignment_bytes")
        if not isinstance(shape, _Tuple) or not all(type(d) is int and d >= 0 for d in shape.items):
            raise self._fail("pickle.joblib-layout", f"array shape {_render(shape, 1)} unknown")
        described = _numpy_dtype(dtype)
        if described is None:
            raise self._fail("pickle.joblib-layout", f"array dtype {_render(dtype, 1)} unknown")
        itemsize, has_object = described
        self.rec.joblib_arrays += 1
        self.frame_end = None  # joblib reads from the file, after the frame it just closed
        if has_object:
            inner = scan_pickle(
                r.source,
                r.pos,
                r.end,
                limits=self.limits,
                max_pickles=1,
                joblib=False,
                extensions=self.extensions,
                _depth=self.depth + 1,
                _stacked=True,
            )
            self.rec.nested.append(
                replace(
                    inner,
                    origin=f"object array that joblib pickles inline after offset {self.op_pos}",
                    origin_offset=r.pos,
                    kind="joblib-inline",
                )
            )
            if not inner.complete:
                self.rec.nested_complete = False
            r.pos = r.buf_end = r.pos + inner.bytes_consumed
            return
        if alignment is not _MISSING and alignment is not None:
            if type(alignment) is not int or not 1 <= alignment <= 4096:
                raise self._fail(
                    "pickle.joblib-layout", f"array alignment {_render(alignment, 1)} unknown"
                )
            pad = r.read(1, into=True)[0]
            expected = alignment - ((r.pos) % alignment)
            if pad != expected:
                raise self._fail(
                    "pickle.joblib-layout",
                    f"the alignment pad is {pad} bytes; joblib writes {expected} here",
                )
            padding = r.read(pad, into=True)
            if padding != b"\xff" * pad:
                raise self._fail("pickle.joblib-layout", "the alignment pad is not 0xff bytes")
        count = math.prod(d for d in shape.items if type(d) is int)
        nbytes = count * itemsize
        if r.pos + nbytes > r.end:
            raise self._fail(
                "pickle.joblib-layout",
                f"the array's {nbytes} bytes run past the end of the stream",
            )
        r.skip(nbytes, into=True)


# ---------------------------------------------------------------- dispatch

_HANDLERS: dict[int, Callable[[_Machine], None]] = {}


def _build_dispatch() -> None:
    for code, name in opcode_names().items():
        method = getattr(_Machine, "op_" + name.lower(), None)
        if method is None:
            alias = {
                "NEWTRUE": "op_true",
                "NEWFALSE": "op_false",
                "EMPTY_DICT": "op_empty_dict",
            }.get(name)
            method = getattr(_Machine, alias) if alias else None
        if method is None:  # pragma: no cover - every opcode has a handler
            raise RuntimeError(f"no handler for {name}")
        _HANDLERS[code] = method


# ---------------------------------------------------------------- value helpers


def _is_plain(value: object) -> bool:
    return value is None or type(value) in (bool, int, float, str, bytes)


def _clip_const(value: object) -> object:
    if isinstance(value, str | bytes) and len(value) > 4096:
        return value[:4096]
    return value


def _stringish(value: object) -> bool:
    """A value that may be a ``str`` at run time (not a constant of another type)."""
    if type(value) is str:
        return True
    if isinstance(value, _Blob):
        return value.kind == "str"
    return isinstance(value, _Call | _Persistent | _Global | _Opaque)


def _computed_text(value: object) -> str | None:
    if type(value) is str:
        return value
    if isinstance(value, _Call) and type(value.value) is str:
        return value.value
    return None


def _tuple_like(value: object) -> bool:
    return isinstance(value, _Tuple | _Call | _Persistent | _Global | _Opaque)


def _dict_like(value: object) -> bool:
    return isinstance(value, _Dict | _Call | _Persistent | _Global | _Opaque)


def _receiver_kind(target: object) -> str:
    if isinstance(target, _Global):
        return "global"
    if isinstance(target, _Call):
        return (
            "instance" if target.kind in ("newobj", "newobj_ex", "obj", "inst") else ("call-result")
        )
    if isinstance(target, _Persistent):
        return "persistent"
    if isinstance(target, _List | _Dict | _Set | _Tuple):
        return "container"
    if target is None or isinstance(target, bool | int | float | str | bytes):
        return "constant"
    return "unknown"


def _describe_callable(func: object) -> tuple[GlobalRef | None, str]:
    if isinstance(func, _Global):
        if func.ref.opcode.startswith("EXT"):
            return func.ref, "extension"
        return func.ref, "global"
    if isinstance(func, _Call):
        inner, _ = _describe_callable(func.func)
        return inner, "call-result"
    if isinstance(func, _Persistent):
        return None, "persistent"
    if func is None or isinstance(func, bool | int | float | str | bytes):
        return None, "constant"
    if isinstance(func, _Tuple | _List | _Dict | _Set | _Blob | _ByteArray):
        return None, "constant"
    return None, "unknown"


def _effective_name(func: object) -> str | None:
    """The dotted name a global callable resolves to (Python 2 names mapped)."""
    if not isinstance(func, _Global):
        return None
    ref = func.ref
    if ref.module is None or ref.name is None:
        return None
    module, name = ref.module, ref.name
    if (module, name) in _NAME_MAPPING:
        module, name = _NAME_MAPPING[(module, name)]
    elif module in _IMPORT_MAPPING:
        module = _IMPORT_MAPPING[module]
    return f"{module}.{name}"


def _bytes_value(value: object, *, file: bool) -> bytes | None:
    """The bytes a loader would read from ``value``, when known.

    ``file``: the loader reads a file object (``io.BytesIO(data)``);
    otherwise it takes bytes (constants, decoded results, bytearrays).
    """
    if isinstance(value, _Call) and value.value is not _UNKNOWN:
        value = value.value
    if file:
        return value.data if isinstance(value, _FileOver) else None
    if type(value) is bytes:
        return value
    if isinstance(value, _ByteArray):
        return value.data
    return None


def _provenance(value: object) -> str:
    chain: list[str] = []
    while isinstance(value, _Call) and len(chain) < 8:
        name = _effective_name(value.func)
        chain.append(name or "?")
        items = value.args.items if isinstance(value.args, _Tuple) else ()
        value = items[0] if items else None
    return f" (decoded by {' <- '.join(chain)})" if chain else ""


def _strtol(text: bytes) -> int | None:
    """C ``strtol(s, &end, 0)`` for what Python's ``int(s, 0)`` refuses (leading-zero octal)."""
    s = text.strip()
    sign = 1
    if s[:1] in (b"+", b"-"):
        sign = -1 if s[:1] == b"-" else 1
        s = s[1:]
    try:
        if len(s) > 1 and s[:1] == b"0" and s[1:2] not in (b"x", b"X"):
            return sign * int(s, 8)
    except ValueError:
        return None
    return None


def _clip(data: bytes | str, limit: int = 40) -> bytes | str:
    return data if len(data) <= limit else data[:limit]


def _render(value: object, depth: int) -> str:
    """A short, bounded description of a symbolic value."""
    text = _render_inner(value, depth)
    return text if len(text) <= 160 else text[:159] + "…"


def _render_inner(value: object, depth: int) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 120:
        return f"<int of {value.bit_length()} bits>"
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str | bytes):
        text = repr(value[:60])
        return text + ("…" if len(value) > 60 else "")
    if isinstance(value, _Global):
        return value.ref.qualname
    if isinstance(value, _Blob):
        return f"<{value.kind} of {value.length:,} bytes at offset {value.offset}>"
    if isinstance(value, _ByteArray):
        return f"bytearray({len(value.data)} bytes)" if value.data is not None else "bytearray"
    if isinstance(value, _FileOver):
        return f"BytesIO({len(value.data)} bytes)"
    if depth >= 3:
        return "…"
    if isinstance(value, _Tuple):
        inner = ", ".join(_render_inner(v, depth + 1) for v in value.items[:6])
        more = ", …" if len(value.items) > 6 else ""
        comma = "," if len(value.items) == 1 else ""
        return f"({inner}{comma}{more})"
    if isinstance(value, _List):
        inner = ", ".join(_render_inner(v, depth + 1) for v in value.items[:6])
        return f"[{inner}{', …' if len(value.items) > 6 else ''}]"
    if isinstance(value, _Dict):
        inner = ", ".join(
            f"{_render_inner(k, depth + 1)}: {_render_inner(v, depth + 1)}"
            for k, v in value.items[:4]
        )
        return "{" + inner + (", …" if len(value.items) > 4 else "") + "}"
    if isinstance(value, _Set):
        return f"{'frozenset' if value.frozen else 'set'}({len(value.items)} items)"
    if isinstance(value, _Call):
        name = _render_inner(value.func, depth + 1)
        if value.value is not _UNKNOWN and isinstance(value.value, str | bytes):
            return f"{name}(…)={_render_inner(value.value, depth + 1)}"
        return f"{name}({_render_inner(value.args, depth + 1)[1:-1]})"
    if isinstance(value, _Persistent):
        return f"persistent_load({_render_inner(value.pid, depth + 1)})"
    if isinstance(value, _Opaque):
        return f"<{value.what}>"
    return "<?>"


def _plain(value: object, budget: list[int]) -> object:
    """Convert a value built of constants to plain Python (``_UNKNOWN`` otherwise).

    Iterative (a pickle may nest containers far deeper than Python's recursion
    limit); ``budget[0]`` bounds the number of values visited.
    """
    # Post-order walk: ("visit", value) expands a container, ("build", value, n)
    # assembles it from the n converted children on top of ``done``.
    todo: list[tuple[bool, object, int]] = [(False, value, 0)]
    done: list[object] = []
    while todo:
        build, node, count = todo.pop()
        if build:
            children = done[len(done) - count :] if count else []
            del done[len(done) - count :]
            if any(child is _UNKNOWN for child in children):
                return _UNKNOWN
            if isinstance(node, _Tuple):
                done.append(tuple(children))
            elif isinstance(node, _List):
                done.append(children)
            else:
                try:
                    done.append(dict(zip(children[::2], children[1::2], strict=True)))
                except TypeError:
                    return _UNKNOWN
            continue
        budget[0] -= 1
        if budget[0] < 0:
            return _UNKNOWN
        if node is None or type(node) in (bool, int, float, str, bytes):
            done.append(node)
        elif isinstance(node, _Tuple | _List):
            todo.append((True, node, len(node.items)))
            todo.extend((False, item, 0) for item in reversed(node.items))
        elif isinstance(node, _Dict):
            todo.append((True, node, 2 * len(node.items)))
            for key, item in reversed(node.items):
                todo.append((False, item, 0))
                todo.append((False, key, 0))
        else:
            return _UNKNOWN
    return done[0] if done else _UNKNOWN


_REBUILD_PREFIX: Final = "torch._utils._rebuild_"
_REBUILD_PARAMETER: Final = "torch._utils._rebuild_parameter"
_REBUILD_FROM_TYPE: Final = "torch._tensor._rebuild_from_type_v2"
_STORAGE_REBUILDERS: Final[frozenset[str]] = frozenset(
    {
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_qtensor",
    }
)
"""Rebuilders whose first four arguments are storage, storage offset, size and stride."""


def _int_tuple(value: object) -> tuple[int, ...] | None:
    if not isinstance(value, _Tuple) or len(value.items) > 64:
        return None
    if not all(type(item) is int for item in value.items):
        return None
    return tuple(item for item in value.items if type(item) is int)


def _torch_storage(pid: object) -> tuple[TorchStorageRef | None, str | None]:
    """Parse torch's persistent id tuple; return the storage (if one) and the type name."""
    if not isinstance(pid, _Tuple) or not pid.items:
        return None, None
    head = pid.items[0]
    typename = head if type(head) is str else None
    if typename != "storage" or len(pid.items) not in (5, 6):
        return None, typename
    _, storage_type, key, location, numel, *rest = pid.items
    if not (
        isinstance(storage_type, _Global)
        and storage_type.ref.module is not None
        and storage_type.ref.name is not None
        and type(key) is str
        and type(location) is str
        and type(numel) is int
    ):
        return None, typename
    return (
        TorchStorageRef(
            storage_module=storage_type.ref.module,
            storage_type=storage_type.ref.name,
            key=key,
            location=location,
            numel=numel,
            legacy=bool(rest) or len(pid.items) == 6,
        ),
        typename,
    )


_DTYPE_SIZES: Final[dict[str, int]] = {
    "b": 1,
    "i": 0,
    "u": 0,
    "f": 0,
    "c": 0,
    "m": 8,
    "M": 8,
    "S": 1,
    "a": 1,
    "V": 1,
    "U": 4,
}


def _numpy_dtype(dtype: object) -> tuple[int, bool] | None:
    """(item size, holds objects) of a pickled ``numpy.dtype(...)``, or ``None``."""
    if not isinstance(dtype, _Call) or _effective_name(dtype.func) not in _NUMPY_DTYPES:
        return None
    args = dtype.args.items if isinstance(dtype.args, _Tuple) else ()
    if not args or type(args[0]) is not str:
        return None
    text = args[0].lstrip("<>|=")
    state = dtype.state.items if isinstance(dtype.state, _Tuple) else ()
    elsize = state[5] if len(state) > 5 and type(state[5]) is int else -1
    flags = state[7] if len(state) > 7 and type(state[7]) is int else 0
    if text.startswith("O") or flags & 1:
        return 0, True
    if elsize > 0:
        return elsize, False
    kind, digits = text[:1], text[1:]
    if kind == "?" and not digits:
        return 1, False
    if kind in ("b", "B") and not digits:
        return 1, False
    if kind not in _DTYPE_SIZES or not digits.isdigit():
        return None
    number = int(digits)
    if kind in ("m", "M"):
        return 8, False
    unit = _DTYPE_SIZES[kind]
    return (number * unit if unit else number), False


# ---------------------------------------------------------------- pure decoders


def _decode(decoder: Callable[..., object], args: tuple[object, ...], cap: int) -> object:
    plain: list[object] = []
    for item in args:
        if isinstance(item, _Call) and item.value is not _UNKNOWN:
            item = item.value
        elif isinstance(item, _ByteArray):
            item = item.data
        if item is None or isinstance(item, str | bytes | int | bool | _FileOver):
            plain.append(item)
        else:
            return _UNKNOWN
    try:
        value = decoder(*plain, cap=cap)
    except (ValueError, TypeError, LookupError, binascii.Error, zlib.error, OSError, EOFError):
        return _UNKNOWN
    except (lzma.LZMAError, MemoryError, OverflowError):
        return _UNKNOWN
    if isinstance(value, str | bytes) and len(value) > cap:
        return _UNKNOWN
    return value


def _as_bytes(data: object) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("ascii")
    raise TypeError("not bytes")


def _bounded_zlib(data: object, wbits: int, cap: int) -> bytes:
    raw = _as_bytes(data)
    d = zlib.decompressobj(wbits)
    out = d.decompress(raw, cap + 1)
    if len(out) > cap:
        raise ValueError("too large")
    return out


def _zlib(data: object, wbits: object = 15, bufsize: object = 0, *, cap: int) -> bytes:
    return _bounded_zlib(data, wbits if isinstance(wbits, int) else 15, cap)


def _gzip(data: object, *, cap: int) -> bytes:
    return _bounded_zlib(data, 31, cap)


def _bz2(data: object, *, cap: int) -> bytes:
    d = bz2.BZ2Decompressor()
    out = d.decompress(_as_bytes(data), cap + 1)
    if len(out) > cap:
        raise ValueError("too large")
    return out


def _lzma(data: object, *args: object, cap: int) -> bytes:
    d = lzma.LZMADecompressor()
    out = d.decompress(_as_bytes(data), cap + 1)
    if len(out) > cap:
        raise ValueError("too large")
    return out


def _b64(data: object, *args: object, cap: int) -> bytes:
    if len(_as_bytes(data)) > cap * 2:
        raise ValueError("too large")
    altchars = args[0] if args and isinstance(args[0], bytes | str) else None
    return base64.b64decode(_as_bytes(data), altchars=altchars)


def _b64_std(data: object, *, cap: int) -> bytes:
    return _b64(data, cap=cap)


def _b64_url(data: object, *, cap: int) -> bytes:
    return base64.urlsafe_b64decode(_as_bytes(data))


def _b32(data: object, *args: object, cap: int) -> bytes:
    return base64.b32decode(_as_bytes(data))


def _b16(data: object, *args: object, cap: int) -> bytes:
    return base64.b16decode(_as_bytes(data), casefold=bool(args and args[0]))


def _b85(data: object, *, cap: int) -> bytes:
    return base64.b85decode(_as_bytes(data))


def _a85(data: object, *args: object, cap: int) -> bytes:
    return base64.a85decode(_as_bytes(data))


def _unhex(data: object, *, cap: int) -> bytes:
    return binascii.unhexlify(_as_bytes(data))


def _fromhex(data: object, *, cap: int) -> bytes:
    if not isinstance(data, str):
        raise TypeError("fromhex takes a str")
    return bytes.fromhex(data)


_TEXT_CODECS: Final = frozenset(
    {
        "latin1",
        "latin-1",
        "latin_1",
        "iso-8859-1",
        "iso8859-1",
        "l1",
        "ascii",
        "utf-8",
        "utf8",
        "utf_8",
        "u8",
        "rot13",
        "rot_13",
        "raw_unicode_escape",
        "unicode_escape",
        "utf-16",
        "utf-32",
    }
)
_BYTES_CODECS: Final = {
    "hex": "hex",
    "hex_codec": "hex",
    "base64": "base64",
    "base_64": "base64",
    "base64_codec": "base64",
    "zlib": "zlib",
    "zip": "zlib",
    "zlib_codec": "zlib",
    "bz2": "bz2",
    "bz2_codec": "bz2",
}


def _codec(
    data: object, encoding: object = "utf-8", errors: object = "strict", *, cap: int
) -> object:
    if not isinstance(encoding, str):
        raise TypeError("encoding")
    name = encoding.lower().replace(" ", "")
    special = _BYTES_CODECS.get(name)
    if special == "hex":
        return binascii.unhexlify(_as_bytes(data)) if isinstance(data, bytes | str) else None
    if special == "base64":
        return _b64(data, cap=cap)
    if special == "zlib":
        return _bounded_zlib(data, 15, cap)
    if special == "bz2":
        return _bz2(data, cap=cap)
    if name not in _TEXT_CODECS:
        raise LookupError(name)
    if name in ("rot13", "rot_13"):
        if not isinstance(data, str):
            raise TypeError("rot13 takes str")
        return codecs.encode(data, "rot13")
    if isinstance(data, str):
        return data.encode(name, errors if isinstance(errors, str) else "strict")
    if isinstance(data, bytes):
        return data.decode(name, errors if isinstance(errors, str) else "strict")
    raise TypeError("codec input")


def _to_bytes(*args: object, cap: int) -> bytes:
    if not args:
        return b""
    data = args[0]
    if isinstance(data, str) and len(args) >= 2 and isinstance(args[1], str):
        return data.encode(args[1])
    if isinstance(data, bytes):
        return data
    raise TypeError("bytes() input")


def _bytes_io(data: object = b"", *, cap: int) -> _FileOver:
    return _FileOver(_as_bytes(data))


def _concat(a: object, b: object, *, cap: int) -> object:
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, bytes) and isinstance(b, bytes):
        return a + b
    raise TypeError("concat")


def _encode_method(data: object, encoding: object = "utf-8", *args: object, cap: int) -> object:
    if not isinstance(data, str):
        raise TypeError("str.encode")
    return _codec(data, encoding, cap=cap)


def _decode_method(data: object, encoding: object = "utf-8", *args: object, cap: int) -> object:
    if not isinstance(data, bytes):
        raise TypeError("bytes.decode")
    return _codec(data, encoding, cap=cap)


DECODERS: Final[dict[str, Callable[..., object]]] = {
    "base64.b64decode": _b64,
    "base64.standard_b64decode": _b64_std,
    "base64.urlsafe_b64decode": _b64_url,
    "base64.decodebytes": _b64_std,
    "base64.b32decode": _b32,
    "base64.b16decode": _b16,
    "base64.b85decode": _b85,
    "base64.a85decode": _a85,
    "binascii.a2b_base64": _b64_std,
    "binascii.a2b_hex": _unhex,
    "binascii.unhexlify": _unhex,
    "builtins.bytes.fromhex": _fromhex,
    "builtins.bytearray.fromhex": _fromhex,
    "builtins.bytes": _to_bytes,
    "builtins.bytearray": _to_bytes,
    "builtins.str.encode": _encode_method,
    "builtins.bytes.decode": _decode_method,
    "codecs.decode": _codec,
    "codecs.encode": _codec,
    "_codecs.decode": _codec,
    "_codecs.encode": _codec,
    "zlib.decompress": _zlib,
    "gzip.decompress": _gzip,
    "bz2.decompress": _bz2,
    "lzma.decompress": _lzma,
    "io.BytesIO": _bytes_io,
    "_io.BytesIO": _bytes_io,
    "operator.add": _concat,
    "operator.concat": _concat,
    "_operator.add": _concat,
    "_operator.concat": _concat,
}
"""Pure, bounded functions whose results the scan computes (to find nested pickles)."""


# ---------------------------------------------------------------- entry points


def scan_pickle(
    source: Source,
    offset: int = 0,
    end: int | None = None,
    *,
    limits: ScanLimits | None = None,
    max_pickles: int | None = None,
    expected: int | None = None,
    joblib: bool = False,
    extensions: Mapping[int, tuple[str, str]] | None = None,
    _depth: int = 0,
    _stacked: bool = False,
) -> PickleScan:
    """Walk the pickles in ``source[offset:end]`` symbolically; never load them.

    ``max_pickles`` bounds how many stacked pickles are walked (``None``:
    until the data ends, an error, or the limit in ``limits``). ``expected``
    is how many the loader reads: pickles beyond it are reported as
    ``pickle.extra-pickles``, other bytes after the last pickle as
    ``pickle.trailing-data`` (with ``max_pickles`` reached, leftover bytes
    are not an error: the caller knows what follows, as in legacy torch
    files). ``joblib`` steps over the array data joblib writes after each
    ``NumpyArrayWrapper``. ``extensions`` maps copyreg extension codes to
    ``(module, name)``; CPython registers none by default.
    """
    limits = limits or ScanLimits()
    if not _HANDLERS:
        _build_dispatch()
    stop = source.size if end is None else min(end, source.size)
    registry = dict(extensions) if extensions is not None else _default_extensions()
    records = _Records(limits, decode_budget=2 * limits.max_nested_bytes)
    pickles: list[PickleInfo] = []
    budget = [limits.max_ops]
    total_ops = 0
    position = offset
    count_limit = min(max_pickles or limits.max_pickles, limits.max_pickles)
    protocol: int | None = None
    divergent: list[int] = []
    trailing_reported = False
    # The memo one Unpickler would hold after the pickles walked so far: until the
    # two readings part (see _Machine.diverges) it is the fresh memos merged in order.
    carried: dict[int, object] = {}
    shared_from: tuple[int, dict[int, object], str] | None = None
    gets_since = 0  # GETs from the first pickle that depends on the memo before it on
    while position < stop and len(pickles) < count_limit:
        if pickles and not _STARTS.get(source.read_at(position, 1)[0], False):
            break
        reader = _Reader(source, position, stop, file_mode=False)
        machine = _Machine(
            reader,
            records,
            pickle_index=len(pickles),
            depth=_depth,
            joblib=joblib,
            extensions=registry,
            budget=budget,
            track_frames=True,
            inherited=carried if shared_from is None else None,
        )
        info = machine.run()
        total_ops += info.ops
        pickles.append(info)
        if info.protocol is not None:
            protocol = max(protocol or 0, info.protocol)
        if machine.frame_problem:
            divergent.append(len(pickles) - 1)
        if machine.diverges is not None and shared_from is None:
            shared_from = (info.index, dict(carried), machine.diverges)
        elif shared_from is None:
            carried.update(machine.memo)
        if shared_from is not None:
            gets_since += machine.gets
        if info.error is not None:
            if (
                expected is not None
                and info.index >= expected
                and info.error.code != ("pickle.cap-exceeded")
            ):
                trailing_reported = True
                records.problem(
                    Problem(
                        "pickle.trailing-data",
                        f"the {stop - info.start:,} bytes after the {expected} pickle(s) the "
                        f"loader reads (offset {info.start}) are no valid pickle"
                        + (" for a fresh unpickler" if machine.diverges else "")
                        + f": {info.error.message}",
                        info.start,
                        excerpt=info.error.excerpt,
                    )
                )
            else:
                records.errors.append(info.error)
            break
        position = info.end
    for index in divergent:
        _alternative_reading(source, pickles[index], stop, records, limits, registry, _depth)
    if shared_from is not None and (gets_since or pickles[shared_from[0]].error is not None):
        # (Without a GET, MEMOIZE numbering alone changes nothing a reading does.)
        first, memo, why = shared_from
        _shared_memo_reading(
            source,
            pickles,
            first,
            memo,
            why,
            stop,
            records,
            limits,
            registry,
            depth=_depth,
            count_limit=count_limit,
            joblib=joblib,
        )
    read = pickles if expected is None else pickles[:expected]
    complete_walks = bool(read) and all(p.complete for p in read)
    if expected is not None and len(pickles) < expected and complete_walks:
        complete_walks = False
        records.errors.append(
            Problem(
                "pickle.truncated",
                f"{len(pickles)} pickle(s) where the loader reads {expected}",
                pickles[-1].end if pickles else offset,
            )
        )
    walked = [p for p in pickles if p.complete]
    consumed_end = walked[-1].end if walked else (pickles[-1].end if pickles else offset)
    if read and read[-1].complete and expected is not None and len(read) == expected:
        consumed_end = read[-1].end if len(pickles) == expected else consumed_end
    leftover = stop - consumed_end
    if not pickles:
        records.errors.append(Problem("pickle.truncated", "no pickle data", offset))
    elif complete_walks and leftover > 0 and not _stacked and not trailing_reported:
        at_limit = max_pickles is not None and len(pickles) >= max_pickles
        if not at_limit:
            records.problem(
                Problem(
                    "pickle.trailing-data",
                    f"{leftover:,} bytes after the last pickle (offset {consumed_end}) are no "
                    "pickle",
                    consumed_end,
                )
            )
    if expected is not None and len(pickles) > expected:
        extra = pickles[expected]
        records.problem(
            Problem(
                "pickle.extra-pickles",
                f"{len(pickles) - expected} more pickle(s) follow the {expected} the loader "
                f"reads, from offset {extra.start}",
                extra.start,
            )
        )
    complete = (
        complete_walks and not records.truncated and records.nested_complete and not records.errors
    )
    return PickleScan(
        start=offset,
        pickles=tuple(pickles),
        globals=tuple(records.globals),
        calls=tuple(records.calls),
        persistent_ids=tuple(records.persistent),
        nested=tuple(records.nested),
        errors=tuple(records.errors),
        problems=tuple(records.problems),
        complete=complete,
        truncated=records.truncated,
        protocol=protocol,
        bytes_consumed=consumed_end - offset,
        ops=total_ops,
        depth=_depth,
        joblib_arrays=records.joblib_arrays,
        tensors=tuple(records.tensors),
    )


def _alternative_reading(
    source: Source,
    info: PickleInfo,
    stop: int,
    records: _Records,
    limits: ScanLimits,
    registry: Mapping[int, tuple[str, str]],
    depth: int,
) -> None:
    """Walk a pickle with inconsistent frames as the C unpickler reading a file does."""
    alt_records = _Records(limits, decode_budget=2 * limits.max_nested_bytes)
    reader = _Reader(source, info.start, stop, file_mode=True)
    machine = _Machine(
        reader,
        alt_records,
        pickle_index=info.index,
        depth=depth,
        joblib=False,
        extensions=registry,
        budget=[limits.max_ops],
        track_frames=False,
    )
    alt = machine.run()
    if alt.error is not None:
        alt_records.errors.append(alt.error)
    scan = PickleScan(
        start=info.start,
        pickles=(alt,),
        globals=tuple(alt_records.globals),
        calls=tuple(alt_records.calls),
        persistent_ids=tuple(alt_records.persistent),
        nested=tuple(alt_records.nested),
        errors=tuple(alt_records.errors),
        problems=tuple(alt_records.problems),
        complete=not alt_records.truncated and alt_records.nested_complete,
        truncated=alt_records.truncated,
        protocol=alt.protocol,
        bytes_consumed=alt.end - info.start,
        ops=alt.ops,
        origin=(
            f"pickle #{info.index} at offset {info.start} as CPython 3.11 runs it from a file "
            "object (frames disagree with their contents)"
        ),
        origin_offset=info.start,
        depth=depth + 1,
        kind="frame-divergent",
    )
    records.nested.append(scan)
    if alt_records.truncated:
        records.nested_complete = False


def _shared_memo_reading(
    source: Source,
    fresh: list[PickleInfo],
    first: int,
    memo: dict[int, object],
    why: str,
    stop: int,
    records: _Records,
    limits: ScanLimits,
    registry: Mapping[int, tuple[str, str]],
    *,
    depth: int,
    count_limit: int,
    joblib: bool,
) -> None:
    """Walk stacked pickles from ``info`` on as one reused Unpickler does: memo carried over.

    CPython's ``Unpickler.load()`` clears the stack and the marks but keeps the memo,
    so a program that calls it again on one object resolves a later pickle's GETs
    with what earlier pickles stored (and MEMOIZE numbers on from there). ``fresh``
    are the pickles as walked with a fresh memo each, ``first`` the first one that
    depends on the memo before it (``why`` says how). When that reading imports,
    calls and fails exactly as the fresh one does (a MEMOIZE that shifts indexes
    nothing reads), it is dropped; otherwise it is kept as a nested scan and a
    ``pickle.shared-memo`` problem says so.
    """
    info = fresh[first]
    alt = _Records(limits, decode_budget=2 * limits.max_nested_bytes)
    budget = [limits.max_ops]
    walked: list[PickleInfo] = []
    position = info.start
    index = info.index
    while position < stop and index < count_limit:
        if walked and not _STARTS.get(source.read_at(position, 1)[0], False):
            break
        machine = _Machine(
            _Reader(source, position, stop, file_mode=False),
            alt,
            pickle_index=index,
            depth=depth,
            joblib=joblib,
            extensions=registry,
            budget=budget,
            track_frames=False,
            memo=memo,
        )
        walked.append(machine.run())
        if walked[-1].error is not None:
            alt.errors.append(walked[-1].error)
            break
        position = walked[-1].end
        index += 1
    shifted = fresh[first].error is None
    if shifted:
        # The pickle stands on its own (its GETs read its own MEMOIZEs, as separate
        # pickle.dump calls write them); a reused Unpickler numbers those entries on
        # from the earlier ones. Kept only when that reading does something else.
        if _signature(walked, alt, first) == _signature(fresh[first:], records, first):
            return
    else:
        records.problem(
            Problem(
                "pickle.shared-memo",
                f"pickle #{first} (offset {info.start}) depends on the memo of the pickle(s) "
                f"before it: {why}. A fresh unpickler (pickle.load) fails there; one Unpickler "
                "whose load() is called again reads it with the earlier memo, and that reading "
                "was analysed too",
                info.start,
                excerpt=why.split(" at offset", 1)[0],
            )
        )
    seen = {(p.code, p.offset) for p in (*records.problems, *records.errors)}
    scan = PickleScan(
        start=info.start,
        pickles=tuple(walked),
        globals=tuple(alt.globals),
        calls=tuple(alt.calls),
        persistent_ids=tuple(alt.persistent),
        tensors=tuple(alt.tensors),
        nested=tuple(alt.nested),
        errors=tuple(p for p in alt.errors if (p.code, p.offset) not in seen),
        problems=tuple(p for p in alt.problems if (p.code, p.offset) not in seen),
        complete=not alt.truncated and alt.nested_complete,
        truncated=alt.truncated,
        protocol=max((p.protocol for p in walked if p.protocol is not None), default=None),
        bytes_consumed=(walked[-1].end if walked else info.start) - info.start,
        ops=sum(p.ops for p in walked),
        origin=(
            f"{_pickle_range(info.index, walked[-1].index if walked else info.index)} from "
            f"offset {info.start} read by one reused Unpickler (load() called again keeps "
            "the memo of the earlier pickles)"
        ),
        origin_offset=info.start,
        depth=depth + 1,
        joblib_arrays=alt.joblib_arrays,
        kind="shared-memo-shifted" if shifted else "shared-memo",
    )
    records.nested.append(scan)
    if alt.truncated or not alt.nested_complete:
        records.nested_complete = False


def _pickle_range(first: int, last: int) -> str:
    return f"pickle #{first}" if first == last else f"pickles #{first} to #{last}"


def _signature(pickles: list[PickleInfo], records: _Records, first: int) -> tuple[object, ...]:
    """What a reading of stacked pickles from ``first`` on imports, calls and where it stops."""
    return (
        tuple((p.start, p.end, p.complete, p.error.code if p.error else None) for p in pickles),
        tuple(
            (g.offset, g.module, g.name, g.opcode)
            for g in records.globals
            if g.pickle_index >= first
        ),
        tuple(
            (
                c.offset,
                c.kind,
                c.callable.qualname if c.callable else None,
                c.callable_kind,
                c.receiver,
                c.args_summary,
            )
            for c in records.calls
            if c.pickle_index >= first
        ),
        tuple((p.offset, p.summary) for p in records.persistent if p.pickle_index >= first),
    )


def _scan_zip_pickles(
    data: bytes,
    limits: ScanLimits,
    extensions: Mapping[int, tuple[str, str]],
    depth: int,
) -> PickleScan:
    """Scan the pickle members of a zip held in memory (a nested ``torch.save`` archive)."""
    from seewhy.errors import FormatError
    from seewhy.formats.archive import read_member, read_zip

    source = BytesSource(data)
    inner: list[PickleScan] = []
    errors: list[Problem] = []
    try:
        listing = read_zip(source)
        for member in listing.members:
            if not member.name.endswith((".pkl", ".debug_pkl", ".pickle")):
                continue
            if len(inner) >= limits.max_nested:
                errors.append(Problem("pickle.nested-limit", "too many pickle members", 0))
                break
            body = read_member(source, member, max_bytes=limits.max_nested_bytes)
            scan = scan_pickle(
                BytesSource(body), limits=limits, extensions=extensions, _depth=depth + 1
            )
            inner.append(
                replace(scan, origin=f"member {member.name} of a nested zip", kind="nested")
            )
    except FormatError as exc:
        errors.append(Problem("pickle.nested-limit", f"nested zip: {exc.message}", exc.offset))
    return PickleScan(
        start=0,
        pickles=(),
        globals=(),
        calls=(),
        persistent_ids=(),
        nested=tuple(inner),
        errors=tuple(errors),
        problems=(),
        complete=not errors and all(scan.complete for scan in inner),
        truncated=False,
        protocol=None,
        bytes_consumed=len(data),
        depth=depth,
    )


def scan_pickle_bytes(data: bytes, **kwargs: object) -> PickleScan:
    """:func:`scan_pickle` over bytes held in memory."""
    return scan_pickle(BytesSource(data), **kwargs)  # type: ignore[arg-type]


def _default_extensions() -> dict[int, tuple[str, str]]:
    """The copyreg extension registry of a plain CPython (empty unless something registered)."""
    import copyreg

    inverted = getattr(copyreg, "_inverted_registry", {})
    return {int(code): (str(key[0]), str(key[1])) for code, key in inverted.items()}


# Bytes that can begin a pickle (any opcode): a later stacked pickle must start with one.
_STARTS: dict[int, bool] = {}


def _init_starts() -> None:
    for code in opcode_names():
        _STARTS[code] = True


_init_starts()
_build_dispatch()
