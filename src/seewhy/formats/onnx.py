"""Describe an ONNX model (``ModelProto``) without the onnx package.

:func:`parse_onnx` stream-walks the protobuf messages of an ONNX file with
:class:`~seewhy.formats.protobuf.ProtoReader`: tensor payloads
(``raw_data`` and the typed ``*_data`` fields) are skipped, never read, so
a multi-gigabyte model costs a few reads per node and tensor. It records:

* the header (IR version, producer, opset imports) and model-local
  functions;
* every operator used, by domain and type, counted across the main graph,
  nested graphs (``If``/``Loop``/``Scan`` bodies in node attributes),
  training graphs and function bodies;
* every tensor that stores its data outside the file
  (``data_location = EXTERNAL`` or any ``external_data`` entry): initializers,
  sparse initializers (values and indices), tensors in node attributes
  (``Constant.value``, ``Constant.sparse_value``, ``tensors`` lists) and in
  function attribute defaults.

It describes and never judges: whether an external location is safe is the
analyzer's call (:func:`location_flaws` only spells out what is lexically odd
about a location string). Field numbers follow ``onnx/onnx-ml.proto``
(onnx 1.23).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from seewhy.errors import FormatError
from seewhy.formats.interface import Problem, Source
from seewhy.formats.protobuf import WIRE_LEN, Field, ProtoLimits, ProtoReader

__all__ = [
    "EXTERNAL_KEYS",
    "PROBLEM_CODES",
    "ExternalTensor",
    "OnnxInfo",
    "OnnxOperator",
    "iter_locations",
    "location_flaws",
    "parse_onnx",
]

PROBLEM_CODES: dict[str, str] = {
    "onnx.no-graph": "The ModelProto has no graph; no runtime can load it as a model.",
    "onnx.unexpected-wire-type": "A known field has a wire type its schema does not allow; "
    "protobuf keeps it as an unknown field, other readers may not.",
    "onnx.duplicate-external-key": "A tensor's external_data repeats a key; readers that keep "
    "the first and readers that keep the last value see different files.",
    "onnx.bad-external-number": "An external_data offset or length is not a non-negative "
    "decimal integer.",
    "onnx.external-without-location": "A tensor says its data is external but names no location.",
    "onnx.unknown-external-key": "external_data holds a key other than location, offset, "
    "length, checksum and basepath (onnx sets it as an attribute all the same).",
    "onnx.long-string": "A name or location is longer than the reader's cap; it is shown cut.",
    "onnx.too-many-operators": "More distinct operator types than the reader's cap; the rest "
    "were counted, not listed.",
    "onnx.too-many-external-tensors": "More external tensors than the reader's cap; the walk "
    "stopped.",
    "onnx.too-many-problems": "More problems of one kind than the cap; the rest were counted.",
}
"""Every problem and error code this module produces, with a one-line description."""

EXTERNAL_KEYS = frozenset({"location", "offset", "length", "checksum", "basepath"})
"""Keys of ``TensorProto.external_data`` that onnx documents."""

MAX_STRING = 4096
MAX_OPERATOR_TYPES = 10_000
MAX_EXTERNAL_TENSORS = 200_000
MAX_PROBLEMS_PER_CODE = 20
LIMITS = ProtoLimits(max_depth=160)

_DATA_LOCATION_EXTERNAL = 1
_DECIMAL = re.compile(r"[0-9]{1,20}")
_DRIVE = re.compile(r"^[A-Za-z]:")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

# ModelProto
_M_IR_VERSION, _M_PRODUCER, _M_PRODUCER_VERSION, _M_GRAPH = 1, 2, 3, 7
_M_OPSET, _M_TRAINING, _M_FUNCTIONS = 8, 20, 25
# OperatorSetIdProto
_OPSET_DOMAIN, _OPSET_VERSION = 1, 2
# GraphProto
_G_NODE, _G_INITIALIZER, _G_SPARSE_INITIALIZER = 1, 5, 15
# NodeProto
_N_NAME, _N_OP_TYPE, _N_ATTRIBUTE, _N_DOMAIN = 3, 4, 5, 7
# AttributeProto
_A_NAME, _A_T, _A_G, _A_TENSORS, _A_GRAPHS, _A_SPARSE, _A_SPARSES = 1, 5, 6, 10, 11, 22, 23
# TensorProto
_T_NAME, _T_EXTERNAL_DATA, _T_DATA_LOCATION = 8, 13, 14
# SparseTensorProto
_S_VALUES, _S_INDICES = 1, 2
# StringStringEntryProto
_E_KEY, _E_VALUE = 1, 2
# TrainingInfoProto
_TI_INITIALIZATION, _TI_ALGORITHM = 1, 2
# FunctionProto
_F_NAME, _F_NODE, _F_DOMAIN, _F_ATTRIBUTE_PROTO = 1, 7, 10, 11


@dataclass(frozen=True)
class ExternalTensor:
    """A tensor whose data lives in another file.

    ``where`` says where the tensor sits in the model
    (``graph.initializer[3]``, ``graph.node[7:Constant].attribute[sparse_value]
    .sparse_tensor.values``); ``offset`` is the byte offset of its
    TensorProto in the ONNX file. ``location``, ``data_offset`` and
    ``data_length`` are the raw strings of the last entry of each key (what
    onnx uses); ``locations`` holds every location entry in order, so that
    a check can look at all of them.
    """

    where: str
    name: str
    offset: int
    marked_external: bool
    location: str | None
    locations: tuple[str, ...]
    data_offset: str | None
    data_length: str | None
    keys: tuple[str, ...]

    @property
    def offset_value(self) -> int | None:
        """The offset as an integer, when it is a plain decimal."""
        return _decimal(self.data_offset)

    @property
    def length_value(self) -> int | None:
        """The length as an integer, when it is a plain decimal."""
        return _decimal(self.data_length)


@dataclass(frozen=True)
class OnnxOperator:
    """One operator type used in the model, with how often and where first."""

    domain: str
    op_type: str
    count: int
    first_offset: int
    first_where: str


@dataclass(frozen=True)
class OnnxInfo:
    """What :func:`parse_onnx` found."""

    ir_version: int | None
    producer_name: str
    producer_version: str
    opsets: tuple[tuple[str, int], ...]
    functions: tuple[tuple[str, str], ...]
    operators: tuple[OnnxOperator, ...]
    external_tensors: tuple[ExternalTensor, ...]
    graphs: int
    nodes: int
    tensors: int
    problems: tuple[Problem, ...]

    @property
    def domains(self) -> frozenset[str]:
        """Every operator domain the nodes use ("" is the default ONNX domain)."""
        return frozenset(op.domain for op in self.operators)


def _decimal(text: str | None) -> int | None:
    if text is None or not _DECIMAL.fullmatch(text):
        return None
    return int(text)


def location_flaws(location: str) -> list[str]:
    """What makes an external-data location something other than a plain relative path.

    Returns the reasons (empty when the location is a plain relative path):
    empty, NUL byte, absolute, drive letter, UNC or backslash, a URL-like
    scheme, or a ``..`` component.
    """
    reasons: list[str] = []
    if not location:
        reasons.append("empty location")
        return reasons
    if "\x00" in location:
        reasons.append("NUL byte")
    if location.startswith(("/", "\\")):
        reasons.append("absolute path")
    if location.startswith(("\\\\", "//")):
        reasons.append("UNC or network path")
    if _DRIVE.match(location):
        reasons.append("drive letter")
    elif _SCHEME.match(location):
        reasons.append("URL scheme")
    if "\\" in location:
        reasons.append("backslash")
    if ".." in re.split(r"[/\\]", location):
        reasons.append("'..' component")
    if location.startswith("~"):
        reasons.append("home-folder path")
    return reasons


@dataclass
class _OpCount:
    count: int
    first_offset: int
    first_where: str


@dataclass
class _State:
    reader: ProtoReader
    operators: dict[tuple[str, str], _OpCount] = field(default_factory=dict)
    dropped_operators: int = 0
    external: list[ExternalTensor] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    problem_counts: dict[str, int] = field(default_factory=dict)
    graphs: int = 0
    nodes: int = 0
    tensors: int = 0

    def problem(
        self, code: str, message: str, offset: int | None, pointer: str | None = None
    ) -> None:
        count = self.problem_counts.get(code, 0) + 1
        self.problem_counts[code] = count
        if count <= MAX_PROBLEMS_PER_CODE:
            self.problems.append(Problem(code, message, offset, pointer))

    def text(self, f: Field, what: str, where: str) -> str:
        if not f.is_len:
            self.wire_mismatch(f, what, where)
            return ""
        value, cut = self.reader.read_text(f, MAX_STRING)
        if cut:
            self.problem(
                "onnx.long-string",
                f"{what} is {f.value:,} bytes long; only the first {MAX_STRING} are shown",
                f.offset,
                where,
            )
        return value

    def wire_mismatch(self, f: Field, what: str, where: str) -> None:
        self.problem(
            "onnx.unexpected-wire-type",
            f"{what} (field {f.number}) has wire type {f.wire_type}",
            f.offset,
            where,
        )

    def embedded(self, f: Field, what: str, where: str) -> bool:
        """Whether ``f`` can hold an embedded message; records a problem when not."""
        if f.wire_type == WIRE_LEN:
            return True
        self.wire_mismatch(f, what, where)
        return False

    def operator(self, domain: str, op_type: str, offset: int, where: str) -> None:
        key = (domain, op_type)
        entry = self.operators.get(key)
        if entry is not None:
            entry.count += 1
        elif len(self.operators) >= MAX_OPERATOR_TYPES:
            self.dropped_operators += 1
        else:
            self.operators[key] = _OpCount(1, offset, where)

    def finish_problems(self) -> tuple[Problem, ...]:
        items = list(self.problems)
        for code, count in self.problem_counts.items():
            if count > MAX_PROBLEMS_PER_CODE:
                items.append(
                    Problem(
                        "onnx.too-many-problems",
                        f"{count - MAX_PROBLEMS_PER_CODE} more {code} problems not listed",
                    )
                )
        return tuple(items)


def parse_onnx(source: Source) -> OnnxInfo:
    """Walk an ONNX ModelProto and describe it (see the module docstring).

    Raises:
        FormatError: a ``protobuf.*`` code when the wire format is broken or
            a cap is hit, ``onnx.too-many-external-tensors`` past the cap.
    """
    reader = ProtoReader(source, LIMITS)
    state = _State(reader)
    ir_version: int | None = None
    producer = producer_version = ""
    opsets: list[tuple[str, int]] = []
    functions: list[tuple[str, str]] = []
    has_graph = False
    for f in reader.top_level():
        if f.number == _M_IR_VERSION:
            if f.is_varint:
                ir_version = f.as_int64
            else:
                state.wire_mismatch(f, "ir_version", "ir_version")
        elif f.number == _M_PRODUCER:
            producer = state.text(f, "producer_name", "producer_name")
        elif f.number == _M_PRODUCER_VERSION:
            producer_version = state.text(f, "producer_version", "producer_version")
        elif f.number == _M_OPSET:
            if state.embedded(f, "opset_import", "opset_import"):
                opsets.append(_opset(state, f))
        elif f.number == _M_GRAPH:
            if state.embedded(f, "graph", "graph"):
                has_graph = True
                _graph(state, f, 1, "graph")
        elif f.number == _M_TRAINING:
            if state.embedded(f, "training_info", "training_info"):
                _training(state, f, f"training_info@{f.offset}")
        elif f.number == _M_FUNCTIONS and state.embedded(f, "functions", "functions"):
            functions.append(_function(state, f, 1))
    if not has_graph:
        state.problem("onnx.no-graph", "the model has no graph (field 7)", 0, "graph")
    if state.dropped_operators:
        state.problem(
            "onnx.too-many-operators",
            f"{state.dropped_operators} nodes of operator types past the first "
            f"{MAX_OPERATOR_TYPES} were counted but not listed",
            None,
        )
    operators = tuple(
        OnnxOperator(domain, op_type, c.count, c.first_offset, c.first_where)
        for (domain, op_type), c in sorted(state.operators.items())
    )
    return OnnxInfo(
        ir_version=ir_version,
        producer_name=producer,
        producer_version=producer_version,
        opsets=tuple(opsets),
        functions=tuple(functions),
        operators=operators,
        external_tensors=tuple(state.external),
        graphs=state.graphs,
        nodes=state.nodes,
        tensors=state.tensors,
        problems=state.finish_problems(),
    )


def _opset(state: _State, f: Field) -> tuple[str, int]:
    domain, version = "", 0
    for sub in state.reader.message(f, 1):
        if sub.number == _OPSET_DOMAIN:
            domain = state.text(sub, "opset domain", "opset_import")
        elif sub.number == _OPSET_VERSION and sub.is_varint:
            version = sub.as_int64
    return domain, version


def _graph(state: _State, f: Field, depth: int, where: str) -> None:
    state.graphs += 1
    node_index = initializer_index = sparse_index = 0
    for sub in state.reader.message(f, depth):
        if sub.number == _G_NODE:
            if state.embedded(sub, "node", where):
                _node(state, sub, depth + 1, f"{where}.node[{node_index}]")
            node_index += 1
        elif sub.number == _G_INITIALIZER:
            if state.embedded(sub, "initializer", where):
                _tensor(state, sub, depth + 1, f"{where}.initializer[{initializer_index}]")
            initializer_index += 1
        elif sub.number == _G_SPARSE_INITIALIZER:
            if state.embedded(sub, "sparse_initializer", where):
                _sparse(state, sub, depth + 1, f"{where}.sparse_initializer[{sparse_index}]")
            sparse_index += 1


def _node(state: _State, f: Field, depth: int, where: str) -> None:
    state.nodes += 1
    op_type = domain = name = ""
    attributes: list[Field] = []
    for sub in state.reader.message(f, depth):
        if sub.number == _N_OP_TYPE:
            op_type = state.text(sub, "op_type", where)
        elif sub.number == _N_DOMAIN:
            domain = state.text(sub, "domain", where)
        elif sub.number == _N_NAME:
            name = state.text(sub, "node name", where)
        elif sub.number == _N_ATTRIBUTE and state.embedded(sub, "attribute", where):
            attributes.append(sub)
    label = f"{where}:{op_type}" if not name else f"{where}:{op_type} {name!r}"
    state.operator(domain, op_type, f.offset, label)
    for attribute in attributes:
        _attribute(state, attribute, depth + 1, f"{where}:{op_type}")


def _attribute(state: _State, f: Field, depth: int, where: str) -> None:
    name = ""
    tensors: list[tuple[Field, str]] = []
    graphs: list[Field] = []
    sparse: list[Field] = []
    for sub in state.reader.message(f, depth):
        if sub.number == _A_NAME:
            name = state.text(sub, "attribute name", where)
        elif sub.number in (_A_T, _A_TENSORS):
            if state.embedded(sub, "attribute tensor", where):
                tensors.append((sub, "t" if sub.number == _A_T else "tensors"))
        elif sub.number in (_A_G, _A_GRAPHS):
            if state.embedded(sub, "attribute graph", where):
                graphs.append(sub)
        elif sub.number in (_A_SPARSE, _A_SPARSES) and state.embedded(
            sub, "attribute sparse tensor", where
        ):
            sparse.append(sub)
    base = f"{where}.attribute[{name}]"
    for index, (sub, kind) in enumerate(tensors):
        _tensor(state, sub, depth + 1, f"{base}.{kind}[{index}]" if kind == "tensors" else base)
    for index, sub in enumerate(graphs):
        _graph(state, sub, depth + 1, f"{base}.graph[{index}]")
    for index, sub in enumerate(sparse):
        _sparse(state, sub, depth + 1, f"{base}.sparse_tensor[{index}]")


def _sparse(state: _State, f: Field, depth: int, where: str) -> None:
    for sub in state.reader.message(f, depth):
        if sub.number == _S_VALUES:
            if state.embedded(sub, "sparse values", where):
                _tensor(state, sub, depth + 1, f"{where}.values")
        elif sub.number == _S_INDICES and state.embedded(sub, "sparse indices", where):
            _tensor(state, sub, depth + 1, f"{where}.indices")


def _tensor(state: _State, f: Field, depth: int, where: str) -> None:
    state.tensors += 1
    name = ""
    marked = False
    entries: list[tuple[str, str, int]] = []
    for sub in state.reader.message(f, depth):
        if sub.number == _T_NAME:
            name = state.text(sub, "tensor name", where)
        elif sub.number == _T_DATA_LOCATION:
            if sub.is_varint:
                marked = sub.as_int64 == _DATA_LOCATION_EXTERNAL
            else:
                state.wire_mismatch(sub, "data_location", where)
        elif sub.number == _T_EXTERNAL_DATA and state.embedded(sub, "external_data", where):
            entries.append(_entry(state, sub, depth + 1, where))
    if not marked and not entries:
        return
    if len(state.external) >= MAX_EXTERNAL_TENSORS:
        raise FormatError(
            "onnx.too-many-external-tensors",
            f"more than {MAX_EXTERNAL_TENSORS:,} tensors with external data",
            f.offset,
        )
    _external(state, f, where, name, marked, entries)


def _entry(state: _State, f: Field, depth: int, where: str) -> tuple[str, str, int]:
    key = value = ""
    for sub in state.reader.message(f, depth):
        if sub.number == _E_KEY:
            key = state.text(sub, "external_data key", where)
        elif sub.number == _E_VALUE:
            value = state.text(sub, "external_data value", where)
    return key, value, f.offset


def _external(
    state: _State,
    f: Field,
    where: str,
    name: str,
    marked: bool,
    entries: list[tuple[str, str, int]],
) -> None:
    last: dict[str, str] = {}
    seen: set[str] = set()
    locations: list[str] = []
    for key, value, offset in entries:
        if key in seen:
            state.problem(
                "onnx.duplicate-external-key",
                f"tensor {name!r}: external_data key {key!r} appears more than once",
                offset,
                where,
            )
        seen.add(key)
        last[key] = value
        if key == "location":
            locations.append(value)
        elif key in ("offset", "length") and _decimal(value) is None:
            state.problem(
                "onnx.bad-external-number",
                f"tensor {name!r}: external_data {key} {value[:40]!r} is not a non-negative "
                "decimal integer",
                offset,
                where,
            )
        elif key not in EXTERNAL_KEYS:
            state.problem(
                "onnx.unknown-external-key",
                f"tensor {name!r}: unknown external_data key {key[:80]!r}",
                offset,
                where,
            )
    if not locations:
        state.problem(
            "onnx.external-without-location",
            f"tensor {name!r} has external data but no location",
            f.offset,
            where,
        )
    state.external.append(
        ExternalTensor(
            where=where,
            name=name,
            offset=f.offset,
            marked_external=marked,
            location=last.get("location"),
            locations=tuple(locations),
            data_offset=last.get("offset"),
            data_length=last.get("length"),
            keys=tuple(key for key, _, _ in entries),
        )
    )


def _training(state: _State, f: Field, where: str) -> None:
    for sub in state.reader.message(f, 1):
        if sub.number in (_TI_INITIALIZATION, _TI_ALGORITHM) and state.embedded(
            sub, "training graph", where
        ):
            label = "initialization" if sub.number == _TI_INITIALIZATION else "algorithm"
            _graph(state, sub, 2, f"{where}.{label}")


def _function(state: _State, f: Field, depth: int) -> tuple[str, str]:
    name = domain = ""
    nodes: list[Field] = []
    attributes: list[Field] = []
    for sub in state.reader.message(f, depth):
        if sub.number == _F_NAME:
            name = state.text(sub, "function name", "functions")
        elif sub.number == _F_DOMAIN:
            domain = state.text(sub, "function domain", "functions")
        elif sub.number == _F_NODE:
            if state.embedded(sub, "function node", "functions"):
                nodes.append(sub)
        elif sub.number == _F_ATTRIBUTE_PROTO and state.embedded(
            sub, "function attribute", "functions"
        ):
            attributes.append(sub)
    where = f"functions[{domain}:{name}]"
    for index, sub in enumerate(nodes):
        _node(state, sub, depth + 1, f"{where}.node[{index}]")
    for sub in attributes:
        _attribute(state, sub, depth + 1, where)
    return domain, name


def iter_locations(info: OnnxInfo) -> Iterator[tuple[ExternalTensor, str]]:
    """Every (tensor, location) pair, each location entry of each tensor once."""
    for tensor in info.external_tensors:
        for location in dict.fromkeys(tensor.locations):
            yield tensor, location
