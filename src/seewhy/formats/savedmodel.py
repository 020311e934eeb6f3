"""Describe TensorFlow SavedModels and frozen graphs without TensorFlow.

A SavedModel (``saved_model.pb``) is a ``SavedModel`` protobuf: meta graphs,
each with a ``GraphDef`` whose nodes and function library say which ops run
when the model is loaded and called. :func:`parse_saved_model` and
:func:`parse_graph_def` stream-walk those messages with
:class:`~seewhy.formats.protobuf.ProtoReader` (tensor constants are skipped,
never read) and count every op by the function it sits in and the first
component of its node name, so that an analyzer can tell the checkpoint ops
TensorFlow writes for itself from the same ops elsewhere.

:func:`parse_keras_metadata` reads ``keras_metadata.pb`` (a TF-Keras
SavedModel's per-layer JSON) and returns its JSON documents;
:func:`probe` tells a SavedModel from a frozen ``GraphDef`` by structure.

Field numbers follow ``tensorflow/core/protobuf/saved_model.proto``,
``meta_graph.proto``, ``framework/graph.proto``, ``function.proto``,
``node_def.proto`` and ``attr_value.proto``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from seewhy.errors import FormatError
from seewhy.formats.interface import Problem, Source
from seewhy.formats.protobuf import WIRE_LEN, WIRE_VARINT, Field, ProtoLimits, ProtoReader

__all__ = [
    "PROBLEM_CODES",
    "KerasMetadataDoc",
    "TfGraphInfo",
    "TfOpUse",
    "parse_graph_def",
    "parse_keras_metadata",
    "parse_saved_model",
    "probe",
]

PROBLEM_CODES: dict[str, str] = {
    "savedmodel.no-meta-graph": "The SavedModel holds no meta graph; TensorFlow cannot load it.",
    "savedmodel.unexpected-wire-type": "A known field has a wire type its schema does not "
    "allow; protobuf keeps it as an unknown field, other readers may not.",
    "savedmodel.long-string": "An op, node or function name is longer than the reader's cap; "
    "it is shown cut.",
    "savedmodel.too-many-op-groups": "More distinct (op, function, scope) groups than the "
    "reader's cap; the rest were counted, not listed.",
    "savedmodel.too-many-problems": "More problems of one kind than the cap; the rest were "
    "counted.",
}
"""Every problem code this module produces, with a one-line description."""

MAX_STRING = 1024
MAX_ATTR_STRING = 4096
MAX_OP_GROUPS = 50_000
MAX_CAPTURED = 10
MAX_PROBLEMS_PER_CODE = 20
MAX_METADATA_BYTES = 16 * 1024 * 1024
LIMITS = ProtoLimits(max_depth=64)

# SavedModel
_SM_SCHEMA, _SM_META_GRAPHS = 1, 2
# MetaGraphDef
_MG_INFO, _MG_GRAPH, _MG_ASSETS = 1, 2, 6
# MetaInfoDef
_MI_TAGS, _MI_TF_VERSION = 4, 5
# AssetFileDef
_AF_FILENAME = 2
# GraphDef
_GD_NODE, _GD_LIBRARY = 1, 2
_GD_FIELDS = {1: WIRE_LEN, 2: WIRE_LEN, 3: WIRE_VARINT, 4: WIRE_LEN, 5: WIRE_LEN}
# FunctionDefLibrary / FunctionDef / OpDef
_LIB_FUNCTION, _FD_SIGNATURE, _FD_NODE, _OPDEF_NAME = 1, 1, 3, 1
# NodeDef / AttrValue map entry / AttrValue
_ND_NAME, _ND_OP, _ND_ATTR = 1, 2, 5
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_AV_S = 2


@dataclass(frozen=True)
class TfOpUse:
    """How often one op is used in one place.

    ``function`` is the FunctionDef the nodes sit in (``""`` for a graph's
    own nodes), ``scope`` the first ``/``-separated component of the node
    name. ``captured`` holds string attributes the caller asked for
    (``key=value``), at most ten.
    """

    op: str
    function: str
    scope: str
    count: int
    first_name: str
    first_offset: int
    meta_graph: int
    captured: tuple[str, ...] = ()


@dataclass(frozen=True)
class TfGraphInfo:
    """What a SavedModel or frozen GraphDef holds.

    ``assets`` holds ``(filename, offset)`` for every ``AssetFileDef``.
    """

    kind: str  # "saved_model" or "graph_def"
    schema_version: int | None
    meta_graphs: int
    tags: tuple[str, ...]
    tensorflow_versions: tuple[str, ...]
    ops: tuple[TfOpUse, ...]
    functions: int
    nodes: int
    assets: tuple[tuple[str, int], ...]
    problems: tuple[Problem, ...]

    @property
    def op_names(self) -> frozenset[str]:
        """Every op name used."""
        return frozenset(use.op for use in self.ops)


@dataclass
class _Group:
    count: int
    first_name: str
    first_offset: int
    captured: list[str]


@dataclass
class _State:
    reader: ProtoReader
    capture: dict[str, frozenset[str]]
    groups: dict[tuple[str, str, str, int], _Group] = field(default_factory=dict)
    dropped_groups: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_counts: dict[str, int] = field(default_factory=dict)
    nodes: int = 0
    functions: int = 0
    tags: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    assets: list[tuple[str, int]] = field(default_factory=list)

    def problem(self, code: str, message: str, offset: int | None) -> None:
        count = self.problem_counts.get(code, 0) + 1
        self.problem_counts[code] = count
        if count <= MAX_PROBLEMS_PER_CODE:
            self.problems.append(Problem(code, message, offset))

    def embedded(self, f: Field, what: str) -> bool:
        if f.wire_type == WIRE_LEN:
            return True
        self.problem(
            "savedmodel.unexpected-wire-type",
            f"{what} (field {f.number}) has wire type {f.wire_type}",
            f.offset,
        )
        return False

    def text(self, f: Field, what: str, cap: int = MAX_STRING) -> str:
        if not self.embedded(f, what):
            return ""
        value, cut = self.reader.read_text(f, cap)
        if cut:
            self.problem(
                "savedmodel.long-string",
                f"{what} is {f.value:,} bytes long; only the first {cap} are shown",
                f.offset,
            )
        return value

    def use(
        self, op: str, function: str, name: str, offset: int, meta_graph: int, captured: list[str]
    ) -> None:
        scope = name.split("/", 1)[0] if "/" in name else ""
        key = (op, function, scope, meta_graph)
        group = self.groups.get(key)
        if group is None:
            if len(self.groups) >= MAX_OP_GROUPS:
                self.dropped_groups += 1
                return
            group = self.groups[key] = _Group(0, name, offset, [])
        group.count += 1
        room = MAX_CAPTURED - len(group.captured)
        if room > 0:
            group.captured.extend(captured[:room])

    def finish(self) -> tuple[tuple[TfOpUse, ...], tuple[Problem, ...]]:
        if self.dropped_groups:
            self.problem(
                "savedmodel.too-many-op-groups",
                f"{self.dropped_groups} nodes past the first {MAX_OP_GROUPS} op groups were "
                "not listed",
                None,
            )
        uses = tuple(
            TfOpUse(
                op, function, scope, g.count, g.first_name, g.first_offset, mg, tuple(g.captured)
            )
            for (op, function, scope, mg), g in sorted(self.groups.items())
        )
        problems = list(self.problems)
        for code, count in self.problem_counts.items():
            if count > MAX_PROBLEMS_PER_CODE:
                problems.append(
                    Problem(
                        "savedmodel.too-many-problems",
                        f"{count - MAX_PROBLEMS_PER_CODE} more {code} problems not listed",
                    )
                )
        return uses, tuple(problems)


def probe(source: Source, *, max_fields: int = 256) -> str | None:
    """Guess the message type of a ``.pb`` file from its top-level fields.

    Returns ``"saved_model"`` when the fields are only a varint 1 and
    length-delimited 2s (with at least one 2), ``"graph_def"`` when they fit
    a GraphDef (with at least one node or version field), else ``None``.
    Looks at most at ``max_fields`` top-level fields and never raises.
    """
    reader = ProtoReader(source, LIMITS)
    seen: dict[int, int] = {}
    try:
        for index, f in enumerate(reader.top_level()):
            if index >= max_fields:
                break
            if f.number not in _GD_FIELDS:
                return None
            seen[f.number] = f.wire_type
    except FormatError:
        return None
    if not seen:
        return None
    saved_model = {1: WIRE_VARINT, 2: WIRE_LEN}
    if all(saved_model.get(n) == w for n, w in seen.items()) and 2 in seen:
        return "saved_model"
    if all(_GD_FIELDS.get(n) == w for n, w in seen.items()) and (1 in seen or 4 in seen):
        return "graph_def"
    return None


def parse_saved_model(
    source: Source, capture: Mapping[str, Iterable[str]] | None = None
) -> TfGraphInfo:
    """Walk a SavedModel and count every op of every meta graph.

    ``capture`` maps an op name to attribute keys whose string values are
    worth keeping as evidence (``{"PrintV2": ["output_stream"]}``).

    Raises:
        FormatError: a ``protobuf.*`` code when the wire format is broken or
            a cap is hit.
    """
    state = _State(ProtoReader(source, LIMITS), _capture(capture))
    schema: int | None = None
    meta_graphs = 0
    for f in state.reader.top_level():
        if f.number == _SM_SCHEMA and f.is_varint:
            schema = f.as_int64
        elif f.number == _SM_META_GRAPHS and state.embedded(f, "meta_graphs"):
            _meta_graph(state, f, meta_graphs)
            meta_graphs += 1
    if not meta_graphs:
        state.problem("savedmodel.no-meta-graph", "the SavedModel has no meta graph", 0)
    return _info(state, "saved_model", schema, meta_graphs)


def parse_graph_def(
    source: Source, capture: Mapping[str, Iterable[str]] | None = None
) -> TfGraphInfo:
    """Walk a frozen GraphDef (a ``.pb`` written by ``tf.io.write_graph``) and count its ops.

    Raises:
        FormatError: a ``protobuf.*`` code when the wire format is broken or
            a cap is hit.
    """
    state = _State(ProtoReader(source, LIMITS), _capture(capture))
    _graph_fields(state, state.reader.top_level(), 0, 0)
    return _info(state, "graph_def", None, 0)


def _capture(capture: Mapping[str, Iterable[str]] | None) -> dict[str, frozenset[str]]:
    return {op: frozenset(keys) for op, keys in (capture or {}).items()}


def _info(state: _State, kind: str, schema: int | None, meta_graphs: int) -> TfGraphInfo:
    uses, problems = state.finish()
    return TfGraphInfo(
        kind=kind,
        schema_version=schema,
        meta_graphs=meta_graphs,
        tags=tuple(dict.fromkeys(state.tags)),
        tensorflow_versions=tuple(dict.fromkeys(state.versions)),
        ops=uses,
        functions=state.functions,
        nodes=state.nodes,
        assets=tuple(state.assets),
        problems=problems,
    )


def _meta_graph(state: _State, f: Field, index: int) -> None:
    for sub in state.reader.message(f, 1):
        if sub.number == _MG_INFO and state.embedded(sub, "meta_info_def"):
            for info in state.reader.message(sub, 2):
                if info.number == _MI_TAGS:
                    state.tags.append(state.text(info, "tag"))
                elif info.number == _MI_TF_VERSION:
                    state.versions.append(state.text(info, "tensorflow_version"))
        elif sub.number == _MG_GRAPH and state.embedded(sub, "graph_def"):
            _graph_fields(state, state.reader.message(sub, 2), 2, index)
        elif sub.number == _MG_ASSETS and state.embedded(sub, "asset_file_def"):
            for asset in state.reader.message(sub, 2):
                if asset.number == _AF_FILENAME:
                    state.assets.append((state.text(asset, "asset filename"), asset.offset))


def _graph_fields(state: _State, fields: Iterable[Field], depth: int, meta_graph: int) -> None:
    for f in fields:
        if f.number == _GD_NODE and state.embedded(f, "node"):
            _node(state, f, depth + 1, "", meta_graph)
        elif f.number == _GD_LIBRARY and state.embedded(f, "library"):
            for entry in state.reader.message(f, depth + 1):
                if entry.number == _LIB_FUNCTION and state.embedded(entry, "function"):
                    _function(state, entry, depth + 2, meta_graph)


def _function(state: _State, f: Field, depth: int, meta_graph: int) -> None:
    state.functions += 1
    name = ""
    nodes: list[Field] = []
    for sub in state.reader.message(f, depth):
        if sub.number == _FD_SIGNATURE and state.embedded(sub, "signature"):
            for part in state.reader.message(sub, depth + 1):
                if part.number == _OPDEF_NAME:
                    name = state.text(part, "function name")
        elif sub.number == _FD_NODE and state.embedded(sub, "node_def"):
            nodes.append(sub)
    for node in nodes:
        _node(state, node, depth + 1, name or f"<unnamed@{f.offset}>", meta_graph)


def _node(state: _State, f: Field, depth: int, function: str, meta_graph: int) -> None:
    state.nodes += 1
    name = op = ""
    attrs: list[Field] = []
    for sub in state.reader.message(f, depth):
        if sub.number == _ND_NAME:
            name = state.text(sub, "node name")
        elif sub.number == _ND_OP:
            op = state.text(sub, "op")
        elif sub.number == _ND_ATTR and sub.is_len:
            attrs.append(sub)
    captured: list[str] = []
    wanted = state.capture.get(op)
    if wanted:
        for entry in attrs:
            captured.extend(_string_attr(state, entry, depth + 1, wanted))
    state.use(op, function, name, f.offset, meta_graph, captured)


def _string_attr(state: _State, f: Field, depth: int, wanted: frozenset[str]) -> list[str]:
    key = ""
    values: list[Field] = []
    for sub in state.reader.message(f, depth):
        if sub.number == _ENTRY_KEY:
            key = state.text(sub, "attr key")
        elif sub.number == _ENTRY_VALUE and sub.is_len:
            values.append(sub)
    if key not in wanted:
        return []
    found: list[str] = []
    for value in values:
        for part in state.reader.message(value, depth + 1):
            if part.number == _AV_S and part.is_len:
                found.append(f"{key}={state.text(part, 'attr value', MAX_ATTR_STRING)}")
    return found


# ---------------------------------------------------------------- keras_metadata.pb


@dataclass(frozen=True)
class KerasMetadataDoc:
    """One JSON document of ``keras_metadata.pb``: a layer's or model's metadata.

    ``identifier`` is the node's ``_tf_keras_*`` identifier when present;
    ``offset`` is where the JSON text starts.
    """

    identifier: str
    node_path: str
    offset: int
    data: bytes


def parse_keras_metadata(source: Source) -> tuple[KerasMetadataDoc, ...]:
    """Return every JSON document of a ``keras_metadata.pb`` (``SavedMetadata``).

    Each node (field 1) is a ``SavedObject``; any of its string fields that
    starts with ``{`` is taken as the metadata JSON, so that a field number
    change does not hide a document.

    Raises:
        FormatError: a ``protobuf.*`` code, or ``keras.config-too-large``
            for a document above the cap.
    """
    reader = ProtoReader(source, LIMITS)
    docs: list[KerasMetadataDoc] = []
    for node in reader.top_level():
        if node.number != 1 or not node.is_len:
            continue
        identifier = path = ""
        found: list[Field] = []
        for sub in reader.message(node, 1):
            if not sub.is_len or not sub.value:
                continue
            head = reader.read_bytes(sub, 64)
            if head.lstrip()[:1] == b"{":
                found.append(sub)
            elif head.startswith(b"_tf_keras"):
                identifier = head.decode("utf-8", "replace")
            elif sub.number == 3:
                path = reader.read_text(sub, MAX_STRING)[0]
        for sub in found:
            if sub.value > MAX_METADATA_BYTES:
                raise FormatError(
                    "keras.config-too-large",
                    f"a {sub.value:,}-byte metadata document is above the cap",
                    sub.start,
                )
            docs.append(
                KerasMetadataDoc(identifier, path, sub.start, reader.read_bytes(sub, sub.value))
            )
    return tuple(docs)
