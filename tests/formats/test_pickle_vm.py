"""The symbolic pickle machine: CPython's semantics, bounded, never loading anything."""

from __future__ import annotations

import base64
import collections
import datetime
import decimal
import io
import pickle
import pickletools
import struct
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))

from pickle_samples import deep_pickle

from seewhy.formats.interface import BytesSource
from seewhy.formats.pickle_vm import (
    PROBLEM_CODES,
    PickleScan,
    ScanLimits,
    opcode_names,
    scan_pickle,
    scan_pickle_bytes,
)

P2, P4 = b"\x80\x02", b"\x80\x04"


def g(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def u(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


SYSTEM = g("os", "system") + u("echo hi") + b"\x85R"


def codes(scan: PickleScan) -> set[str]:
    return {p.code for s in scan.walk() for p in s.all_problems}


def names(scan: PickleScan) -> set[str]:
    return {ref.qualname for s in scan.walk() for ref in s.globals}


class _Thing:
    def __init__(self) -> None:
        self.a = [1, 2]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Thing) and other.a == self.a


SAMPLE = {
    "ints": [0, 1, -1, 255, 65535, 2**31, -(2**31) - 1, 2**70, -(2**100)],
    "floats": [0.5, float("inf"), -2.25],
    "text": ["", "x", "é" * 300, "a\nb"],
    "bytes": [b"", b"\x00\xff", b"y" * 300],
    "bytearray": bytearray(b"ba"),
    "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
    "sets": [set(), {1, 2}, frozenset({3})],
    "none": None,
    "bools": [True, False],
    "nested": {"a": {"b": [{"c": (1, [2])}]}},
    "ordered": collections.OrderedDict(z=1, a=2),
    "default": collections.defaultdict(list, {"k": [1]}),
    "deque": collections.deque([1, 2]),
    "date": datetime.datetime(2024, 1, 2, 3, 4, 5),
    "delta": datetime.timedelta(days=2),
    "decimal": decimal.Decimal("1.25"),
    "complex": complex(1, 2),
    "slice": slice(1, 5, 2),
    "range": range(3),
    "obj": _Thing(),
}
SHARED = [1, 2]
SAMPLE["shared"] = [SHARED, SHARED]


# ------------------------------------------------------------------ coverage of opcodes


def test_every_opcode_has_a_handler() -> None:
    table = opcode_names()
    assert len(table) == len(pickletools.opcodes) == 68
    assert set(table.values()) == {op.name for op in pickletools.opcodes}


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("pickler", ["c", "python"])
def test_real_pickles_of_every_protocol(protocol: int, pickler: str) -> None:
    if pickler == "c":
        data = pickle.dumps(SAMPLE, protocol=protocol)
    else:
        buffer = io.BytesIO()
        pickle._Pickler(buffer, protocol=protocol).dump(SAMPLE)
        data = buffer.getvalue()
    scan = scan_pickle_bytes(data)
    assert scan.complete, scan.all_problems
    assert not scan.problems
    assert scan.bytes_consumed == len(data)
    assert scan.pickles[0].protocol == (protocol if protocol >= 2 else None)
    # every global pickletools sees is recorded, with the same names (differential check)
    seen = _pickletools_globals(data)
    assert {(r.module, r.name) for r in scan.globals} == seen
    assert any(n.endswith("._Thing") for n in names(scan))


def _pickletools_globals(data: bytes) -> set[tuple[str | None, str | None]]:
    out: set[tuple[str | None, str | None]] = set()
    strings: list[object] = []
    memo: dict[int, object] = {}
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("GLOBAL", "INST"):
            module, name = str(arg).split(" ", 1)
            out.add((module, name))
        elif op.name == "STACK_GLOBAL":
            out.add((str(strings[-2]), str(strings[-1])))
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
            strings.append(arg)
        elif op.name == "MEMOIZE":
            memo[len(memo)] = strings[-1] if strings else None
        elif op.name in ("BINGET", "LONG_BINGET", "GET") and isinstance(arg, int):
            strings.append(memo.get(arg))
    return out


# ------------------------------------------------------------------ globals and calls


def test_global_and_reduce_are_recorded() -> None:
    scan = scan_pickle_bytes(P2 + SYSTEM + b".")
    assert [(r.module, r.name, r.offset, r.opcode) for r in scan.globals] == [
        ("os", "system", 2, "GLOBAL")
    ]
    (call,) = scan.calls
    assert (call.kind, call.callable, call.offset) == ("reduce", scan.globals[0], 23)
    assert call.args_summary == "('echo hi',)"
    assert call.const_args == ("echo hi",)


def test_stack_global_through_the_memo() -> None:
    data = P4 + u("builtins") + b"\x94" + u("eval") + b"\x94" + b"00h\x00h\x01\x93" + u("1")
    data += b"\x85R."
    scan = scan_pickle_bytes(data)
    (ref,) = scan.globals
    assert (ref.qualname, ref.resolved_via, ref.constant) == (
        "builtins.eval",
        "memo 0, memo 1",
        True,
    )


def test_stack_global_with_a_computed_name() -> None:
    data = P4 + g("_codecs", "encode") + u("bf") + u("rot13") + b"\x86R" + u("system") + b"\x93"
    data += u("x") + b"\x85R."
    scan = scan_pickle_bytes(data)
    computed = [r for r in scan.globals if not r.constant]
    assert len(computed) == 1
    assert computed[0].module == "os"  # the rot13 result, computed statically
    assert computed[0].resolved_via.startswith("computed")


def test_stack_global_needs_strings() -> None:
    scan = scan_pickle_bytes(P4 + b"K\x01K\x02\x93.")
    assert codes(scan) == {"pickle.bad-operand"}
    assert not scan.complete


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"(" + g("os", "system") + u("x") + b"o0N.", "obj"),
        (b"(S'x'\n" + b"ios\nsystem\n.", "inst"),
        (g("os", "system") + b")\x81.", "newobj"),
        (g("os", "system") + b")}\x92.", "newobj_ex"),
    ],
)
def test_every_call_site_kind(body: bytes, kind: str) -> None:
    scan = scan_pickle_bytes(P4 + body)
    assert scan.complete, scan.all_problems
    assert [c.kind for c in scan.calls] == [kind]
    assert scan.calls[0].callable is not None
    assert scan.calls[0].callable.qualname == "os.system"


def test_build_on_a_global_and_method_calls_on_globals() -> None:
    data = P2 + g("argparse", "Namespace") + b"N}" + u("k") + b"K\x01s\x86b0"
    data += g("os", "environ") + u("LD_PRELOAD") + u("x.so") + b"s0N."
    scan = scan_pickle_bytes(data)
    kinds = [(c.kind, c.receiver, c.callable.qualname if c.callable else None) for c in scan.calls]
    assert ("build", "global", "argparse.Namespace") in kinds
    assert ("setitem", "global", "os.environ") in kinds


def test_call_of_a_call_result() -> None:
    data = P2 + g("operator", "attrgetter") + u("system") + b"\x85R" + g("os", "path") + b"\x85R."
    scan = scan_pickle_bytes(data)
    assert [c.callable_kind for c in scan.calls] == ["global", "call-result"]


def test_ext_codes_resolve_through_the_given_registry() -> None:
    data = P2 + b"\x82\x07" + u("x") + b"\x85R."
    plain = scan_pickle_bytes(data)
    assert plain.globals[0].module is None
    assert plain.globals[0].resolved_via == "extension code 7"
    assert plain.calls[-1].callable_kind == "extension"
    mapped = scan_pickle_bytes(data, extensions={7: ("os", "system")})
    assert mapped.globals[0].qualname == "os.system"
    assert codes(scan_pickle_bytes(P2 + b"\x84\x00\x00\x00\x00.")) == {"pickle.bad-argument"}


def test_torch_persistent_ids() -> None:
    pid = b"(" + u("storage") + g("torch", "FloatStorage") + u("0") + u("cpu") + b"K\x04tQ."
    scan = scan_pickle_bytes(P2 + pid)
    (ref,) = scan.persistent_ids
    assert ref.storage is not None
    assert (ref.storage.storage_type, ref.storage.key, ref.storage.numel) == (
        "FloatStorage",
        "0",
        4,
    )
    assert [c.kind for c in scan.calls] == ["persid"]
    text = scan_pickle_bytes(b"Pstorage-1\n.")
    assert text.persistent_ids[0].summary == "'storage-1'"


# ------------------------------------------------------------------ nested pickles


def test_nested_base64_pickle_is_scanned() -> None:
    inner = P2 + SYSTEM + b"."
    data = P2 + g("pickle", "loads") + g("base64", "b64decode")
    data += b"C" + bytes([len(base64.b64encode(inner))]) + base64.b64encode(inner)
    data += b"\x85R\x85R."
    scan = scan_pickle_bytes(data)
    (nested,) = scan.nested
    assert nested.kind == "nested"
    assert "decoded by base64.b64decode" in nested.origin
    assert names(nested) == {"os.system"}
    assert scan.complete


def test_nested_file_loader_and_depth_limit() -> None:
    inner = P2 + SYSTEM + b"."
    data = P2 + g("pickle", "load") + g("io", "BytesIO") + b"C" + bytes([len(inner)]) + inner
    data += b"\x85R\x85R."
    assert names(scan_pickle_bytes(data)) >= {"os.system"}
    payload = inner
    for _ in range(6):
        payload = P2 + g("pickle", "loads") + b"B" + struct.pack("<I", len(payload)) + payload
        payload += b"\x85R."
    deep = scan_pickle_bytes(payload, limits=ScanLimits(max_nested_depth=3))
    assert "pickle.nested-limit" in codes(deep)
    assert not deep.complete


# ------------------------------------------------------------------ frames


def test_well_formed_frames_raise_nothing() -> None:
    data = pickle.dumps([b"x" * 70_000, list(range(60_000)), {str(i): i for i in range(9)}], 4)
    scan = scan_pickle_bytes(data)
    assert scan.pickles[0].frames >= 2
    assert scan.complete and not scan.problems and not scan.nested


def test_frame_divergence_is_read_both_ways() -> None:
    payload = P2 + SYSTEM + b"."
    hidden = b"abcdef" + b"C" + bytes([len(payload)])
    frame = b"X" + struct.pack("<I", 8) + b"zz"
    data = P4 + b"\x95" + struct.pack("<Q", len(frame)) + frame + hidden + payload + b"0."
    # What pickletools and pickle.loads see: a string and some bytes.
    assert pickle.loads(data) == "zzabcdef"
    scan = scan_pickle_bytes(data)
    assert not scan.globals
    assert "pickle.frame-mismatch" in codes(scan)
    (other,) = scan.nested
    assert other.kind == "frame-divergent"
    assert names(other) == {"os.system"}
    assert (
        other.globals[0].offset == 11 + len(frame) + len(hidden) + 2
    )  # in what pickletools shows as bytes


def test_frame_overrun_and_early_frame() -> None:
    overrun = P4 + b"\x95" + struct.pack("<Q", 1000) + b"N."
    assert "pickle.frame-mismatch" in codes(scan_pickle_bytes(overrun))
    early = P4 + b"\x95" + struct.pack("<Q", 12) + b"N0\x95" + struct.pack("<Q", 2) + b"N.."
    assert "pickle.frame-mismatch" in codes(scan_pickle_bytes(early))


# ------------------------------------------------------------------ errors, stacking, caps


def test_payload_before_corrupt_bytes_is_kept() -> None:
    scan = scan_pickle_bytes(P2 + SYSTEM + b"\xff")
    assert names(scan) == {"os.system"}
    assert [c.kind for c in scan.calls] == ["reduce"]
    (error,) = scan.errors
    assert (error.code, error.offset, error.excerpt) == ("pickle.invalid-opcode", 24, "0xff")
    assert not scan.complete


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (P2 + b"h\x05.", "pickle.bad-memo"),
        (P2 + b"t.", "pickle.stack-underflow"),
        (P2 + b"0.", "pickle.stack-underflow"),
        (P2 + b"(K\x01d.", "pickle.bad-operand"),
        (b"S'unterminated\n.", "pickle.bad-argument"),
        (b"\x80\x06N.", "pickle.bad-argument"),
        (P2 + b"X\x05\x00\x00\x00ab", "pickle.truncated"),
        (P2 + b"T\xff\xff\xff\xff.", "pickle.bad-argument"),
        (P4 + b"\x97.", "pickle.unsupported"),
        (b"L" + b"9" * 5000 + b"L\n.", "pickle.bad-argument"),
        (P2 + b"X\x02\x00\x00\x00\xff\xfe.", "pickle.bad-argument"),
    ],
)
def test_errors_stop_where_cpython_stops(data: bytes, code: str) -> None:
    scan = scan_pickle_bytes(data)
    assert code in codes(scan)
    assert not scan.complete


def test_c_unpickler_number_rules() -> None:
    assert scan_pickle_bytes(b"I010\n.").pickles[0].value == 8  # strtol's octal
    assert scan_pickle_bytes(b"I01\n.").pickles[0].value is True
    assert scan_pickle_bytes(b"L12L\n.").pickles[0].value == 12


def test_pop_takes_a_mark_and_proto_placement() -> None:
    assert scan_pickle_bytes(P2 + b"(0N.").complete
    scan = scan_pickle_bytes(P2 + b"N0\x80\x04N.")
    assert codes(scan) == {"pickle.misplaced-proto"}


def test_stacked_pickles_and_trailing_bytes() -> None:
    one = pickle.dumps([1, 2], protocol=2)
    scan = scan_pickle_bytes(one + one + b"\xff\xfe", expected=1)
    assert len(scan.pickles) == 2
    assert codes(scan) == {"pickle.extra-pickles", "pickle.trailing-data"}
    assert scan.complete  # what the loader reads was fully analysed
    legacy = scan_pickle_bytes(one * 5 + b"\x00" * 64, max_pickles=5, expected=5)
    assert legacy.complete and not legacy.problems
    assert legacy.bytes_consumed == 5 * len(one)
    assert scan_pickle_bytes(pickle.dumps(["a", "b"])).pickles[0].value == ["a", "b"]


def test_operation_stack_memo_and_record_caps() -> None:
    many = P2 + b"(" + b"N" * 5000 + b"l."
    assert "pickle.cap-exceeded" in codes(scan_pickle_bytes(many, limits=ScanLimits(max_ops=100)))
    deep = scan_pickle_bytes(many, limits=ScanLimits(max_stack=100))
    assert deep.truncated and not deep.complete
    memo = P2 + b"N" + b"".join(b"r" + struct.pack("<I", i) for i in range(300)) + b"."
    assert "pickle.cap-exceeded" in codes(scan_pickle_bytes(memo, limits=ScanLimits(max_memo=10)))
    calls = P2 + (g("collections", "OrderedDict") + b")R0") * 50 + b"N."
    capped = scan_pickle_bytes(calls, limits=ScanLimits(max_records=20))
    assert "pickle.cap-exceeded" in codes(capped)


def test_billion_laughs_is_stopped() -> None:
    data = P2 + b"]q\x00"
    for level in range(1, 40):
        data += b"(" + (b"h" + bytes([level - 1])) * 8 + b"lq" + bytes([level])
    data += b"."
    started = time.perf_counter()
    scan = scan_pickle_bytes(data)
    assert time.perf_counter() - started < 1
    assert "pickle.expansion" in codes(scan)
    assert scan.truncated and not scan.complete


def test_huge_memo_index_is_reported() -> None:
    scan = scan_pickle_bytes(P2 + b"Nr\xff\xff\xff\xff.")
    assert "pickle.expansion" in codes(scan)


class _CountingSource(BytesSource):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.read = 0

    def read_at(self, offset: int, length: int) -> bytes:
        out = super().read_at(offset, length)
        self.read += len(out)
        return out


def test_large_constants_are_stepped_over_not_read() -> None:
    blob = b"\x00" * (8 << 20)
    data = P4 + b"\x8e" + struct.pack("<Q", len(blob)) + blob + b"."
    source = _CountingSource(data)
    scan = scan_pickle(source)
    assert scan.complete
    assert source.read < 2 << 20


# ------------------------------------------------------------------ joblib


def _joblib_record(alignment_pad: bytes, nbytes: int) -> tuple[bytes, int]:
    dtype = g("numpy", "dtype") + u("f4") + b"\x89\x88\x87R" + b"(K\x03" + u("<")
    dtype += b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    state = b"}(" + u("subclass") + g("numpy", "ndarray") + u("shape") + b"K\x02\x85"
    state += u("order") + u("C") + u("dtype") + dtype + u("allow_mmap") + b"\x88"
    state += u("numpy_array_alignment_bytes") + b"K\x10u"
    head = P2 + g("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + state + b"b"
    return head + alignment_pad + b"\x00" * nbytes + b".", len(head)


def test_joblib_array_bytes_are_stepped_over() -> None:
    probe, head = _joblib_record(b"", 0)
    pad = 16 - ((head + 1) % 16)
    data, _ = _joblib_record(bytes([pad]) + b"\xff" * pad, 8)
    scan = scan_pickle_bytes(data, joblib=True, expected=1)
    assert scan.complete, scan.all_problems
    assert scan.joblib_arrays == 1
    bad, _ = _joblib_record(bytes([pad]) + b"\x00" * pad, 8)
    assert "pickle.joblib-layout" in codes(scan_pickle_bytes(bad, joblib=True))
    assert probe  # the same record without joblib mode is a plain (broken) pickle
    assert not scan_pickle_bytes(data).complete


# ------------------------------------------------------------------ robustness


def _valid_pickles() -> list[bytes]:
    out = [pickle.dumps(SAMPLE, protocol=p) for p in range(6)]
    out.append(P2 + SYSTEM + b".")
    out.append(b"cos\nsystem\n(S'x'\ntR.")
    return out


VALID = _valid_pickles()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(VALID) - 1),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "insert", "delete"]),
            st.integers(0, 10**6),
            st.binary(min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_pickles_never_crash_the_scan(
    index: int, edits: list[tuple[str, int, bytes]]
) -> None:
    data = bytearray(VALID[index])
    for kind, position, chunk in edits:
        at = position % (len(data) + 1)
        if kind == "flip" and data:
            data[at % len(data)] ^= chunk[0] or 1
        elif kind == "insert":
            data[at:at] = chunk
        elif data:
            del data[at % len(data) : at % len(data) + len(chunk)]
    started = time.perf_counter()
    scan = scan_pickle_bytes(bytes(data), limits=ScanLimits(max_ops=200_000), joblib=True)
    assert time.perf_counter() - started < 5
    assert scan.ops <= 200_000 * 8
    assert all(p.code in PROBLEM_CODES for s in scan.walk() for p in s.all_problems)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_crash_the_scan(data: bytes) -> None:
    scan = scan_pickle_bytes(data, limits=ScanLimits(max_ops=100_000))
    assert isinstance(scan.complete, bool)


def test_scan_time_is_linear(tmp_path: Path) -> None:
    small = pickle.dumps(list(range(20_000)), protocol=4)
    large = pickle.dumps(list(range(200_000)), protocol=4)
    started = time.perf_counter()
    scan_pickle_bytes(small)
    first = time.perf_counter() - started
    started = time.perf_counter()
    scan_pickle_bytes(large)
    second = time.perf_counter() - started
    assert second < 30 * max(first, 1e-3)


# ---------------------------------------------------------------- stacked pickles, one memo

_NAMES = P4 + b"]\x94(" + u("os") + b"\x94" + u("system") + b"\x94e."  # memo 0: list, 1, 2: names


def test_later_pickle_reading_the_first_ones_memo_is_walked_as_one_unpickler_reads_it() -> None:
    call = P4 + b"h\x01h\x02\x93" + u("echo hi") + b"\x85R."
    data = _NAMES + call
    scan = scan_pickle_bytes(data, expected=1)
    # A fresh unpickler (the first reading) fails at the second pickle's first BINGET ...
    assert scan.pickles[1].error is not None and scan.pickles[1].error.code == "pickle.bad-memo"
    assert "pickle.shared-memo" in codes(scan)
    # ... one reused Unpickler resolves it: that reading imports and calls os.system.
    (shared,) = [inner for inner in scan.nested if inner.kind == "shared-memo"]
    assert [ref.qualname for ref in shared.globals] == ["os.system"]
    assert shared.globals[0].resolved_via == "memo 1, memo 2"
    (site,) = [c for c in shared.calls if c.kind == "reduce"]
    assert site.callable is not None and site.callable.qualname == "os.system"
    assert site.const_args == ("echo hi",) and site.pickle_index == 1
    assert shared.complete and scan.complete


def test_memo_carries_over_as_in_cpython() -> None:
    """The reading follows CPython: Unpickler.load() keeps the memo, pickle.load does not."""
    data = _NAMES + P4 + b"h\x01h\x02\x86."  # the second pickle returns ('os', 'system')
    reused = pickle.Unpickler(io.BytesIO(data))
    assert reused.load() == ["os", "system"] and reused.load() == ("os", "system")
    stream = io.BytesIO(data)
    pickle.load(stream)
    with pytest.raises(pickle.UnpicklingError, match="Memo value not found"):
        pickle.load(stream)
    (shared,) = [inner for inner in scan_pickle_bytes(data).nested if inner.kind == "shared-memo"]
    assert [p.value for p in shared.pickles] == [("os", "system")]


def test_memo_index_no_pickle_stored_is_an_error_in_both_readings() -> None:
    never = _NAMES + P4 + b"h\x07."
    with pytest.raises(pickle.UnpicklingError, match="Memo value not found at index 7"):
        reused = pickle.Unpickler(io.BytesIO(never))
        reused.load()
        reused.load()
    scan = scan_pickle_bytes(never, expected=1)
    assert not [inner for inner in scan.nested if inner.kind.startswith("shared-memo")]
    assert "pickle.shared-memo" not in codes(scan)
    assert "memo value not found at index 7" in " ".join(p.message for p in scan.problems)
    # Inside the carried reading, a GET of an index nobody stored stops it there too.
    later = _NAMES + P4 + b"h\x010h\x09."
    with pytest.raises(pickle.UnpicklingError, match="Memo value not found at index 9"):
        reused = pickle.Unpickler(io.BytesIO(later))
        reused.load()
        reused.load()
    (shared,) = [i for i in scan_pickle_bytes(later).nested if i.kind == "shared-memo"]
    assert [(e.code, e.offset) for e in shared.errors] == [("pickle.bad-memo", len(_NAMES) + 5)]


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_independent_stacked_pickles_need_no_second_reading(protocol: int) -> None:
    values = [{"a": [1, 2], "b": "x"}, collections.OrderedDict(c="x", d=[3]), ("x", "x")]
    data = b"".join(pickle.dumps(v, protocol=protocol) for v in values)
    scan = scan_pickle_bytes(data)
    assert scan.complete and not scan.nested and "pickle.shared-memo" not in codes(scan)


# ---------------------------------------------------------------- deep values


@pytest.mark.parametrize("shape", ["list", "dict", "tuple"])
@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_deeply_nested_pickles_are_walked_to_the_end(shape: str, protocol: int) -> None:
    data = deep_pickle(shape, 100_000, protocol)
    loaded = pickle.loads(data)  # CPython loads it: the unpickler does not recurse
    assert loaded is not None
    scan = scan_pickle_bytes(data, expected=1)
    assert scan.complete and not scan.all_problems, scan.all_problems
    assert scan.pickles[0].value is None  # too large to convert, never a crash
    assert scan.pickles[0].result.startswith(("[", "{", "("))
