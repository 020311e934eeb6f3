"""``README.md`` model card: YAML front matter, model-index and body.

:func:`parse_card` never raises for bad input: every problem (undecodable
bytes, broken or hostile YAML, fields of the wrong type, a malformed
model-index) is a :class:`~seewhy.formats.interface.Problem` on the returned
:class:`ModelCard`, and whatever could still be read is read.

The front matter is found the way the Hub finds it: optional blank lines,
a ``---`` line, the YAML, and the next line that is exactly ``---``. The
YAML is loaded with a restricted safe loader:

* no Python tags (``!!python/...``): they are reported, never constructed;
* at most :data:`MAX_ALIASES` aliases, no alias to an enclosing node, and at
  most :data:`MAX_EXPANDED_NODES` nodes once aliases are expanded, so an
  alias bomb is refused before anything walks it;
* nesting at most :data:`MAX_YAML_DEPTH` deep, at most
  :data:`MAX_YAML_NODES` nodes, front matter at most
  :data:`MAX_FRONT_MATTER_BYTES` long;
* booleans as in YAML 1.2 (only ``true``/``false``), as the Hub reads them:
  ``language: no`` is Norwegian, not ``False``.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, Event
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError
from yaml.resolver import Resolver

from seewhy.formats.interface import Problem

__all__ = [
    "MAX_ALIASES",
    "MAX_EXPANDED_NODES",
    "MAX_FRONT_MATTER_BYTES",
    "MAX_PROBLEMS",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "PROBLEM_CODES",
    "EvalResult",
    "MetricValue",
    "ModelCard",
    "parse_card",
]

MAX_FRONT_MATTER_BYTES = 1 << 20
"""Front matter longer than this (in UTF-8 bytes) is not parsed."""
MAX_ALIASES = 100
"""Most YAML aliases (``*name``) accepted in one front matter."""
MAX_EXPANDED_NODES = 1_000_000
"""Most YAML nodes accepted once every alias is expanded."""
MAX_YAML_DEPTH = 64
"""Deepest nesting of YAML collections accepted."""
MAX_YAML_NODES = 100_000
"""Most YAML nodes (aliases not expanded) accepted in one front matter."""
MAX_PROBLEMS = 100
"""Most problems one card records; the rest are counted."""

PROBLEM_CODES: dict[str, str] = {
    "card.not-utf8": "the card is not valid UTF-8; bad bytes were replaced",
    "card.unclosed-front-matter": "a '---' opens front matter but no '---' line closes it",
    "card.front-matter-too-large": "the front matter is over 1 MiB or 100,000 YAML nodes; not read",
    "card.bad-yaml": "the front matter is not valid YAML",
    "card.yaml-python-tag": "the front matter uses a !!python tag (never constructed)",
    "card.yaml-alias-bomb": "the front matter has too many, recursive or exploding aliases",
    "card.yaml-too-deep": "the front matter nests collections too deeply",
    "card.front-matter-not-mapping": "the front matter is YAML but not a key/value mapping",
    "card.duplicate-key": "a front-matter key appears more than once; the last value is kept",
    "card.bad-field": "a known front-matter field has the wrong type; ignored",
    "card.bad-model-index": "the model-index is malformed; the malformed parts were skipped",
    "card.too-many-problems": "more problems than the cap; the rest were counted, not recorded",
}
"""Every code this module emits -> one-line description."""

_UTF8_BOM = b"\xef\xbb\xbf"
_PYTHON_TAG = "tag:yaml.org,2002:python/"

MetricValue = float | int | str
"""What a model-index metric ``value`` may be: a number, or a string as written."""


@dataclass(frozen=True)
class EvalResult:
    """One metric of one result of the card's ``model-index``.

    ``line`` is the 1-based line of the card where the metric is declared,
    when it can be found.
    """

    task_type: str | None
    dataset_name: str | None
    dataset_type: str | None
    metric_type: str | None
    metric_value: MetricValue | None
    metric_name: str | None = None
    source_url: str | None = None
    task_name: str | None = None
    dataset_config: str | None = None
    dataset_split: str | None = None
    verified: bool | None = None
    model_name: str | None = None
    line: int | None = None
    num_fewshot: int | None = None  # dataset.args.num_few_shot (or num_fewshot), when given


@dataclass(frozen=True)
class ModelCard:
    """What a model card declares.

    ``license`` is the declared license (the first when ``licenses`` holds
    several); string fields that may also be lists (``base_model``, ``tags``,
    ...) are tuples. ``front_matter`` is the whole parsed mapping, or
    ``None`` when there is none or it could not be parsed.

    Line numbers are 1-based lines of the file: ``front_matter_lines`` is
    the span of the front matter including both ``---`` lines, ``key_lines``
    the line of each top-level front-matter key, ``body_start_line`` the
    first line of ``body``.
    """

    path: str
    has_front_matter: bool = False
    front_matter: Mapping[Hashable, Any] | None = None
    front_matter_lines: tuple[int, int] | None = None
    license: str | None = None
    licenses: tuple[str, ...] = ()
    license_name: str | None = None
    license_link: str | None = None
    base_model: tuple[str, ...] = ()
    base_model_relation: str | None = None
    datasets: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    pipeline_tag: str | None = None
    library_name: str | None = None
    tags: tuple[str, ...] = ()
    model_name: str | None = None
    extra_gated_prompt: str | None = None
    extra_gated_eu_disallowed: bool | None = None
    eval_results: tuple[EvalResult, ...] = ()
    body: str = ""
    body_start_line: int = 1
    key_lines: Mapping[str, int] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    def line_of(self, key: str) -> int | None:
        """Return the 1-based line of top-level front-matter ``key``, if present."""
        return self.key_lines.get(key)


# --------------------------------------------------------------------------
# the restricted YAML loader


class _CardYamlError(yaml.YAMLError):
    """The front matter breaks one of this module's limits, or a value cannot be built."""

    def __init__(self, code: str, message: str, index: int | None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.index = index


class _EventSource(Protocol):
    """A YAML parser seen as a stream of events (libyaml's or PyYAML's)."""

    def check_event(self, *choices: type[Event]) -> bool: ...
    def peek_event(self) -> Event | None: ...
    def get_event(self) -> Event | None: ...
    def dispose(self) -> None: ...


def _event_source(text: str) -> _EventSource:
    """libyaml's parser when PyYAML has it (several times faster), else PyYAML's.

    Only events come from the parser: composition (with the limits) and
    construction are the Python code below either way.
    """
    if _LIBYAML:
        from yaml._yaml import CParser  # importable only when PyYAML has libyaml

        return CParser(text)
    return yaml.BaseLoader(text)


_LIBYAML: bool = bool(getattr(yaml, "__with_libyaml__", False))


class _CardLoader(Composer, SafeConstructor, Resolver):
    """A safe loader with YAML 1.2 booleans and limits on aliases, depth, size and tags."""

    def __init__(self, text: str) -> None:
        self.libyaml = _LIBYAML
        self._events = _event_source(text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.aliases = 0
        self._nodes = 0
        self._depth = 0
        self._open_anchors: list[str] = []

    def check_event(self, *choices: type[Event]) -> bool:
        """Whether the next event is one of ``choices`` (any event if none)."""
        return self._events.check_event(*choices)

    def peek_event(self) -> Event | None:
        """The next event, left in place."""
        return self._events.peek_event()

    def get_event(self) -> Event | None:
        """The next event, consumed."""
        return self._events.get_event()

    def dispose(self) -> None:
        """Release the parser."""
        self._events.dispose()

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        """Compose one node, enforcing the limits before recursing."""
        event = self.peek_event()
        if event is None:  # pragma: no cover - the parser always ends with StreamEnd
            return super().compose_node(parent, index)
        start = event.start_mark.index if event.start_mark is not None else None
        if isinstance(event, AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _CardYamlError(
                    "card.yaml-alias-bomb", f"more than {MAX_ALIASES} YAML aliases", start
                )
            if event.anchor in self._open_anchors:
                raise _CardYamlError(
                    "card.yaml-alias-bomb",
                    f"alias *{event.anchor} refers to a node that contains it",
                    start,
                )
            return super().compose_node(parent, index)
        self._nodes += 1
        if self._nodes > MAX_YAML_NODES:
            raise _CardYamlError(
                "card.front-matter-too-large", f"more than {MAX_YAML_NODES} YAML nodes", start
            )
        tag = getattr(event, "tag", None)
        if isinstance(tag, str) and tag.startswith(_PYTHON_TAG):
            raise _CardYamlError("card.yaml-python-tag", f"Python tag {tag!r}", start)
        if self._depth >= MAX_YAML_DEPTH:
            raise _CardYamlError(
                "card.yaml-too-deep", f"collections nest deeper than {MAX_YAML_DEPTH}", start
            )
        anchor = getattr(event, "anchor", None)
        self._depth += 1
        if anchor is not None:
            self._open_anchors.append(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open_anchors.pop()

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """Construct one value; a Python error on a value becomes a marked YAML error."""
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # hostile scalars: bad dates, 5000-digit ints, ...
            raise ConstructorError(
                None, None, f"value cannot be read: {exc}", node.start_mark
            ) from None


# YAML 1.2 core-schema booleans instead of YAML 1.1's yes/no/on/off.
_CardLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in Resolver.yaml_implicit_resolvers.items()
}
_CardLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _expanded_size(root: Node) -> int:
    """Count nodes with every alias expanded, without recursion (capped)."""
    cap = MAX_EXPANDED_NODES + 1
    sizes: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done:
            sizes[id(node)] = min(cap, 1 + sum(sizes[id(c)] for c in children))
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


@dataclass(frozen=True)
class _Yaml:
    data: Any
    node: Node | None
    top_keys: tuple[tuple[str, int], ...]  # top-level scalar keys and their char index


def _load_yaml(text: str) -> _Yaml:
    """Compose, check and construct one YAML document; raises yaml.YAMLError."""
    loader = _CardLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except ReaderError as exc:
            if loader.libyaml and isinstance(exc.position, int):
                # libyaml counts bytes of the UTF-8 text; everything else counts characters
                head = text.encode("utf-8", "surrogatepass")[: exc.position]
                exc.position = len(head.decode("utf-8", "ignore"))
            raise
        if node is None:
            return _Yaml(None, None, ())
        if loader.aliases and _expanded_size(node) > MAX_EXPANDED_NODES:
            raise _CardYamlError(
                "card.yaml-alias-bomb",
                f"aliases expand to more than {MAX_EXPANDED_NODES} nodes",
                node.start_mark.index if node.start_mark is not None else None,
            )
        # Keys are taken before construction, which rewrites merge keys (<<).
        top_keys: tuple[tuple[str, int], ...] = ()
        if isinstance(node, MappingNode):
            top_keys = tuple(
                (str(key.value), key.start_mark.index)
                for key, _ in node.value
                if isinstance(key, ScalarNode) and key.start_mark is not None
            )
        try:
            data = loader.construct_document(node)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # raised while filling a collection, outside any node
            raise _CardYamlError("card.bad-yaml", f"value cannot be read: {exc}", None) from None
        return _Yaml(data, node, top_keys)
    finally:
        loader.dispose()


# --------------------------------------------------------------------------
# splitting the card


@dataclass(frozen=True)
class _Split:
    yaml_text: str | None
    yaml_start: int  # char index of the YAML text in the card
    lines: tuple[int, int] | None  # front matter span, delimiters included
    body: str
    body_start: int  # char index
    body_start_line: int
    unclosed_at: int | None  # char index of an opening '---' that is never closed


def _split(text: str) -> _Split:
    """Find the front matter as the Hub does; never fails."""
    pos = 0
    line_no = 1
    length = len(text)
    open_line = None
    open_at = 0
    while pos < length:
        end = text.find("\n", pos)
        stop = length if end < 0 else end
        line = text[pos:stop]
        nxt = length if end < 0 else end + 1
        if line.strip():
            if line.rstrip("\r").lstrip() == "---" and end >= 0:
                open_line = line_no
                open_at = pos
                pos = nxt
                line_no += 1
            break
        pos = nxt
        line_no += 1
    if open_line is None:
        return _Split(None, 0, None, text, 0, 1, None)

    yaml_start = pos
    while pos < length:
        end = text.find("\n", pos)
        stop = length if end < 0 else end
        if text[pos:stop].rstrip("\r") == "---":
            body_start = length if end < 0 else end + 1
            return _Split(
                text[yaml_start:pos],
                yaml_start,
                (open_line, line_no),
                text[body_start:],
                body_start,
                line_no + 1,
                None,
            )
        pos = length if end < 0 else end + 1
        line_no += 1
    return _Split(None, 0, None, text, 0, 1, open_at)


# --------------------------------------------------------------------------
# reading fields


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, (_dt.date, _dt.datetime)):
        return "date"
    return type(value).__name__


class _Card:
    """Mutable state of one :func:`parse_card` call."""

    def __init__(self, text: str, base: int) -> None:
        self.text = text
        self.base = base  # bytes dropped before text (BOM)
        self.ascii = text.isascii()
        self.problems: list[Problem] = []
        self.dropped = 0
        self._newlines: list[int] | None = None

    def line_at(self, index: int) -> int:
        """1-based line of character ``index`` (lines end at ``\\n``)."""
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", self.text)]
        return bisect.bisect_left(self._newlines, index) + 1

    def offset_at(self, index: int) -> int:
        """Byte offset of character ``index`` in the file."""
        if self.ascii:
            return self.base + index
        return self.base + len(self.text[:index].encode("utf-8", "surrogatepass"))

    def problem(
        self,
        code: str,
        message: str,
        *,
        index: int | None = None,
        pointer: str | None = None,
    ) -> None:
        if len(self.problems) >= MAX_PROBLEMS:
            self.dropped += 1
            return
        offset = None
        if index is not None:
            message = f"line {self.line_at(index)}: {message}"
            offset = self.offset_at(index)
        self.problems.append(Problem(code, message, offset=offset, pointer=pointer))

    def all_problems(self) -> tuple[Problem, ...]:
        """The recorded problems, plus a count of those past the cap."""
        if not self.dropped:
            return tuple(self.problems)
        more = Problem(
            "card.too-many-problems", f"{self.dropped} more problems were found but not recorded"
        )
        return (*self.problems, more)


def _pointer(*parts: object) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class _Fields:
    """Typed reads of the top-level front-matter mapping."""

    def __init__(self, card: _Card, data: Mapping[Any, Any], key_index: dict[str, int]) -> None:
        self.card = card
        self.data = data
        self.key_index = key_index

    def _bad(self, key: str, expected: str, value: Any, pointer: str | None = None) -> None:
        self.card.problem(
            "card.bad-field",
            f"{key!r} should be {expected}, not {_kind(value)}; ignored",
            index=self.key_index.get(key),
            pointer=pointer or _pointer(key),
        )

    def string(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        self._bad(key, "a string", value)
        return None

    def boolean(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None or isinstance(value, bool):
            return value
        self._bad(key, "true or false", value)
        return None

    def strings(self, key: str) -> tuple[str, ...]:
        """A string or a list of strings; non-string items are reported and dropped."""
        value = self.data.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list):
            self._bad(key, "a string or a list of strings", value)
            return ()
        kept: list[str] = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                kept.append(item)
            else:
                self._bad(key, "a list of strings", item, pointer=_pointer(key, i))
        return tuple(kept)


def _node_at(node: Node | None, path: tuple[str | int, ...]) -> Node | None:
    """Follow mapping keys and sequence indexes through a composed YAML tree."""
    for part in path:
        if isinstance(part, int) and isinstance(node, SequenceNode):
            node = node.value[part] if 0 <= part < len(node.value) else None
        elif isinstance(part, str) and isinstance(node, MappingNode):
            found = None
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value == part:
                    found = value
            node = found
        else:
            return None
        if node is None:
            return None
    return node


class _ModelIndex:
    """Reads ``model-index`` leniently; every defect is one problem."""

    def __init__(self, card: _Card, root: Node | None, yaml_start: int) -> None:
        self.card = card
        self.root = root
        self.yaml_start = yaml_start
        self.results: list[EvalResult] = []

    def _index(self, path: tuple[str | int, ...]) -> int | None:
        node = _node_at(self.root, path)
        if node is None or node.start_mark is None:
            return None
        return self.yaml_start + node.start_mark.index

    def _bad(self, message: str, path: tuple[str | int, ...]) -> None:
        self.card.problem(
            "card.bad-model-index",
            f"model-index: {message}",
            index=self._index(path),
            pointer=_pointer(*path),
        )

    def _mapping(self, value: Any, path: tuple[str | int, ...]) -> Mapping[Any, Any] | None:
        if isinstance(value, dict):
            return value
        if value is None:
            self._bad(f"{_pointer(*path)} is missing", path[:-1])
        else:
            self._bad(f"{_pointer(*path)} should be a mapping, not {_kind(value)}", path)
        return None

    def _list(self, value: Any, path: tuple[str | int, ...]) -> list[Any]:
        if isinstance(value, list):
            return value
        if value is None:
            self._bad(f"{_pointer(*path)} is missing", path[:-1])
        else:
            self._bad(f"{_pointer(*path)} should be a list, not {_kind(value)}", path)
        return []

    def _text(
        self,
        obj: Mapping[Any, Any] | None,
        key: str,
        path: tuple[str | int, ...],
        *,
        required: bool,
    ) -> str | None:
        """A string (numbers are spelled out); None when absent or ``obj`` was bad."""
        if obj is None:
            return None
        value = obj.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if value is None:
            if required:
                self._bad(f"{_pointer(*path)} has no {key!r}", path)
            return None
        self._bad(f"{_pointer(*path, key)} should be a string, not {_kind(value)}", path)
        return None

    def read(self, value: Any) -> str | None:
        """Collect the results; return the name of the first entry."""
        first_name: str | None = None
        for m, entry in enumerate(self._list(value, ("model-index",))):
            mpath: tuple[str | int, ...] = ("model-index", m)
            model = self._mapping(entry, mpath)
            if model is None:
                continue
            name = self._text(model, "name", mpath, required=False)
            if m == 0:
                first_name = name
            for r, result in enumerate(self._list(model.get("results"), (*mpath, "results"))):
                self._read_result(result, (*mpath, "results", r), name)
        return first_name

    def _read_result(
        self, value: Any, rpath: tuple[str | int, ...], model_name: str | None
    ) -> None:
        result = self._mapping(value, rpath)
        if result is None:
            return
        task = self._mapping(result.get("task"), (*rpath, "task"))
        dataset = self._mapping(result.get("dataset"), (*rpath, "dataset"))
        source = result.get("source")
        source_map = self._mapping(source, (*rpath, "source")) if source is not None else None
        task_type = self._text(task, "type", (*rpath, "task"), required=True)
        task_name = self._text(task, "name", (*rpath, "task"), required=False)
        dataset_type = self._text(dataset, "type", (*rpath, "dataset"), required=True)
        dataset_name = self._text(dataset, "name", (*rpath, "dataset"), required=True)
        dataset_config = self._text(dataset, "config", (*rpath, "dataset"), required=False)
        dataset_split = self._text(dataset, "split", (*rpath, "dataset"), required=False)
        args = dataset.get("args") if dataset is not None else None
        shots = (
            args.get("num_few_shot", args.get("num_fewshot")) if isinstance(args, dict) else None
        )
        num_fewshot = (
            shots if isinstance(shots, int) and not isinstance(shots, bool) and shots >= 0 else None
        )
        source_url = (
            self._text(source_map, "url", (*rpath, "source"), required=False)
            if source_map is not None
            else None
        )
        for i, item in enumerate(self._list(result.get("metrics"), (*rpath, "metrics"))):
            path = (*rpath, "metrics", i)
            metric = self._mapping(item, path)
            if metric is None:
                continue
            raw_value = metric.get("value")
            metric_value: MetricValue
            if isinstance(raw_value, (int, float, str)) and not isinstance(raw_value, bool):
                metric_value = raw_value
            elif raw_value is None:
                self._bad(f"{_pointer(*path)} has no 'value'", path)
                continue
            else:
                self._bad(
                    f"{_pointer(*path, 'value')} should be a number or a string, "
                    f"not {_kind(raw_value)}",
                    path,
                )
                continue
            verified = metric.get("verified")
            index = self._index(path)
            self.results.append(
                EvalResult(
                    task_type=task_type,
                    dataset_name=dataset_name,
                    dataset_type=dataset_type,
                    metric_type=self._text(metric, "type", path, required=True),
                    metric_value=metric_value,
                    metric_name=self._text(metric, "name", path, required=False),
                    source_url=source_url,
                    task_name=task_name,
                    dataset_config=dataset_config,
                    dataset_split=dataset_split,
                    verified=verified if isinstance(verified, bool) else None,
                    model_name=model_name,
                    line=self.card.line_at(index) if index is not None else None,
                    num_fewshot=num_fewshot,
                )
            )


def _yaml_error(card: _Card, exc: yaml.YAMLError, yaml_start: int) -> None:
    if isinstance(exc, _CardYamlError):
        index = None if exc.index is None else yaml_start + exc.index
        card.problem(exc.code, exc.message, index=index)
        return
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    relative = getattr(mark, "index", None)  # libyaml's marks are not yaml.Mark
    if isinstance(exc, ReaderError):
        relative = exc.position
    index = yaml_start + relative if isinstance(relative, int) else None
    code = "card.bad-yaml"
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = [exc.context, exc.problem]
        message = "; ".join(p for p in parts if p) or "invalid YAML"
        if "maximum nesting depth" in message:  # libyaml's own limit (1000 levels)
            code = "card.yaml-too-deep"
    else:
        message = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
    card.problem(code, message, index=index)


def _top_level_keys(
    card: _Card, keys: tuple[tuple[str, int], ...], yaml_start: int
) -> dict[str, int]:
    """Return the char index of each top-level key; report repeated keys."""
    indexes: dict[str, int] = {}
    for name, relative in keys:
        index = yaml_start + relative
        if name in indexes and name != "<<":
            card.problem(
                "card.duplicate-key",
                f"key {name!r} appears again (first on line {card.line_at(indexes[name])}); "
                "the last value is kept",
                index=index,
                pointer=_pointer(name),
            )
        indexes[name] = index
    return indexes


def parse_card(data: bytes, *, path: str = "README.md") -> ModelCard:
    """Parse the bytes of a model card; never raises for bad input.

    ``path`` is recorded on the card for evidence. See :class:`ModelCard`
    for what is read and :data:`PROBLEM_CODES` for what is reported.
    Problem offsets are byte offsets into ``data``; in a card that is not
    UTF-8 they are exact up to the first bad byte and approximate after it
    (bad bytes are replaced by U+FFFD before parsing).
    """
    base = 0
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
        base = len(_UTF8_BOM)
    bad_byte: int | None = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_byte = base + exc.start
        text = data.decode("utf-8", errors="replace")
    card = _Card(text, base)
    if bad_byte is not None:
        card.problems.append(
            Problem(
                "card.not-utf8",
                f"not UTF-8 (first bad byte at offset {bad_byte}); bad bytes replaced",
                offset=bad_byte,
            )
        )

    split = _split(text)
    if split.unclosed_at is not None:
        card.problem(
            "card.unclosed-front-matter",
            "'---' opens front matter but no '---' line closes it; read as body",
            index=split.unclosed_at,
        )
    if split.yaml_text is None:
        return ModelCard(
            path=path,
            body=split.body,
            body_start_line=split.body_start_line,
            problems=card.all_problems(),
        )

    fields: dict[str, Any] = {}
    front: Mapping[Hashable, Any] | None = None
    key_lines: dict[str, int] = {}
    yaml_start = split.yaml_start
    size = len(split.yaml_text.encode("utf-8", "surrogatepass"))
    if size > MAX_FRONT_MATTER_BYTES:
        card.problem(
            "card.front-matter-too-large",
            f"front matter is {size} bytes, more than {MAX_FRONT_MATTER_BYTES}; not parsed",
            index=yaml_start,
        )
    else:
        loaded: _Yaml | None = None
        try:
            loaded = _load_yaml(split.yaml_text)
        except yaml.YAMLError as exc:
            _yaml_error(card, exc, yaml_start)
        except RecursionError:  # not expected: composition depth is capped
            card.problem("card.yaml-too-deep", "front matter nests too deeply")
        if loaded is not None:
            if loaded.data is None:
                front = {}
            elif isinstance(loaded.data, dict):
                front = loaded.data
            else:
                card.problem(
                    "card.front-matter-not-mapping",
                    f"front matter is a {_kind(loaded.data)}, not a mapping",
                    index=yaml_start,
                )
            if front is not None:
                indexes = _top_level_keys(card, loaded.top_keys, yaml_start)
                key_lines = {k: card.line_at(i) for k, i in indexes.items()}
                fields = _read_fields(card, front, loaded.node, yaml_start, indexes)

    return ModelCard(
        path=path,
        has_front_matter=True,
        front_matter=front,
        front_matter_lines=split.lines,
        body=split.body,
        body_start_line=split.body_start_line,
        key_lines=key_lines,
        problems=card.all_problems(),
        **fields,
    )


def _read_fields(
    card: _Card,
    front: Mapping[Any, Any],
    node: Node | None,
    yaml_start: int,
    key_index: dict[str, int],
) -> dict[str, Any]:
    reader = _Fields(card, front, key_index)
    licenses = reader.strings("license")
    values: dict[str, Any] = {
        "license": licenses[0] if licenses else None,
        "licenses": licenses,
        "license_name": reader.string("license_name"),
        "license_link": reader.string("license_link"),
        "base_model": reader.strings("base_model"),
        "base_model_relation": reader.string("base_model_relation"),
        "datasets": reader.strings("datasets"),
        "language": reader.strings("language"),
        "pipeline_tag": reader.string("pipeline_tag"),
        "library_name": reader.string("library_name"),
        "tags": reader.strings("tags"),
        "extra_gated_prompt": reader.string("extra_gated_prompt"),
        "extra_gated_eu_disallowed": reader.boolean("extra_gated_eu_disallowed"),
    }
    model_name = reader.string("model_name")
    if "model-index" in front and front["model-index"] is not None:
        index = _ModelIndex(card, node, yaml_start)
        index_name = index.read(front["model-index"])
        values["eval_results"] = tuple(index.results)
        model_name = model_name or index_name
    values["model_name"] = model_name
    return values
