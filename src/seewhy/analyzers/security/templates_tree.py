"""The syntax-tree walk of :mod:`seewhy.analyzers.security.templates` (imports Jinja).

Imported by :func:`seewhy.analyzers.security.templates.analyze_template` the
first time a release has a chat template to check, so an audit of a release
without one never imports Jinja.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from itertools import product

from jinja2 import nodes

from seewhy.analyzers.security.templates import MAX_HITS, TemplateHit
from seewhy.formats.template import ParsedTemplate, walk

__all__ = ["analyze_template"]

_FOLD_DEPTH = 24
_FOLD_VALUES = 32
_FOLD_CHARS = 4096
_FOLD_COMBINATIONS = 1024
_BUILD_SCAN_NODES = 2000
_DUNDER = re.compile(r"^__\w+__$")
_DUNDER_PIECE = re.compile(r"^__[A-Za-z]|[A-Za-z]__$")
_ATTRIBUTE_FILTERS = {
    # filter -> positional index of its attribute-name argument (None: keyword only)
    "map": None,
    "sort": None,
    "sum": None,
    "unique": None,
    "min": None,
    "max": None,
    "selectattr": 0,
    "rejectattr": 0,
    "groupby": 0,
}
_SIMPLE_FILTERS: dict[str, Callable[[str], str]] = {
    "lower": str.lower,
    "upper": str.upper,
    "trim": str.strip,
    "string": str,
    "title": str.title,
    "capitalize": str.capitalize,
    "reverse": lambda s: s[::-1],
}
_STRING_METHODS = frozenset(
    {"join", "replace", "format", "format_map", "lower", "upper", "strip", "title", "capitalize"}
)


# ----------------------------------------------------------------- data


@dataclass(frozen=True)
class _Lists:
    gadget_globals: frozenset[str]
    gadget_attributes: frozenset[str]
    format_methods: frozenset[str]
    attribute_filters: frozenset[str]
    string_builders: frozenset[str]
    suspicious_substrings: tuple[str, ...]


@cache
def _lists() -> _Lists:
    text = (resources.files("seewhy.data") / "security" / "templates.toml").read_text("utf-8")
    data = tomllib.loads(text)
    return _Lists(
        gadget_globals=frozenset(data["gadget_globals"]),
        gadget_attributes=frozenset(data["gadget_attributes"]),
        format_methods=frozenset(data["format_methods"]),
        attribute_filters=frozenset(data["attribute_filters"]),
        string_builders=frozenset(data["string_builders"]),
        suspicious_substrings=tuple(data["suspicious_substrings"]),
    )


# ----------------------------------------------------------------- the tree walk


@dataclass
class _Scope:
    """Flow-insensitive facts about a template's names."""

    bound: set[str] = field(default_factory=set)
    values: dict[str, frozenset[str]] = field(default_factory=dict)
    built: set[str] = field(default_factory=set)


def _target_names(target: nodes.Node) -> Iterator[str]:
    """Names an assignment or loop target binds (``ns.attr`` for namespace refs)."""
    stack = [target]
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.Name):
            yield node.name
        elif isinstance(node, nodes.NSRef):
            yield f"{node.name}.{node.attr}"
        elif isinstance(node, nodes.Tuple | nodes.List):
            stack.extend(reversed(node.items))


class _Analysis:
    """Walks one parsed template and collects :class:`TemplateHit` records."""

    def __init__(self, parsed: ParsedTemplate, lists: _Lists) -> None:
        self.parsed = parsed
        self.lists = lists
        self.hits: list[TemplateHit] = []
        self.scope = _Scope()

    def hit(self, rule: str, subject: str, message: str, node: nodes.Node) -> None:
        if len(self.hits) < MAX_HITS:
            self.hits.append(TemplateHit(rule, subject, message, getattr(node, "lineno", None)))

    # ---------------------------------------------------------- scope

    def _collect_scope(self) -> None:
        assigns: list[tuple[list[str], nodes.Node, bool]] = []
        for node in walk(self.parsed.tree):
            if isinstance(node, nodes.Assign):
                targets = list(_target_names(node.target))
                assigns.append((targets, node.node, False))
                if (
                    len(targets) == 1
                    and isinstance(node.node, nodes.Call)
                    and isinstance(node.node.node, nodes.Name)
                    and node.node.node.name == "namespace"
                ):
                    # namespace(key=value): ns.key holds value
                    assigns.extend(
                        ([f"{targets[0]}.{kw.key}"], kw.value, False) for kw in node.node.kwargs
                    )
            elif isinstance(node, nodes.For):
                assigns.append((list(_target_names(node.target)), node.iter, True))
                self.scope.bound.update(_target_names(node.target))
            elif isinstance(node, nodes.AssignBlock):
                self.scope.bound.update(_target_names(node.target))
            elif isinstance(node, nodes.Macro | nodes.CallBlock):
                self.scope.bound.update(a.name for a in node.args)
                if isinstance(node, nodes.Macro):
                    self.scope.bound.add(node.name)
            elif isinstance(node, nodes.With):
                for target in node.targets:
                    self.scope.bound.update(_target_names(target))
            elif isinstance(node, nodes.Import):
                self.scope.bound.add(node.target)
            elif isinstance(node, nodes.FromImport):
                for name in node.names:
                    self.scope.bound.add(name[1] if isinstance(name, tuple) else name)
        for names, _expr, _loop in assigns:
            self.scope.bound.update(n for n in names if "." not in n)
        # Two passes so that later sets see earlier ones in either order.
        for _ in range(2):
            for names, expr, loop in assigns:
                if len(names) != 1:
                    continue
                name = names[0]
                vals = self._loop_values(expr) if loop else self.fold(expr)
                if vals is not None:
                    old = self.scope.values.get(name, frozenset())
                    self.scope.values[name] = frozenset(list(old | vals)[:_FOLD_VALUES])
                if self._builds_string(expr):
                    self.scope.built.add(name)

    def _loop_values(self, expr: nodes.Node) -> frozenset[str] | None:
        if not isinstance(expr, nodes.List | nodes.Tuple):
            return None
        out: set[str] = set()
        for item in expr.items[:_FOLD_VALUES]:
            vals = self.fold(item)
            if vals is None:
                return None
            out |= vals
        return frozenset(out)

    # ---------------------------------------------------------- constant folding

    def fold(self, node: nodes.Node, depth: int = 0) -> frozenset[str] | None:
        """The strings an expression can evaluate to, when they follow from constants."""
        if depth > _FOLD_DEPTH:
            return None
        d = depth + 1
        if isinstance(node, nodes.Const):
            value = node.value
            if isinstance(value, str):
                return frozenset({value[:_FOLD_CHARS]})
            if isinstance(value, int | float) and not isinstance(value, bool):
                return frozenset({str(value)})
            return None
        if isinstance(node, nodes.Name):
            return self.scope.values.get(node.name)
        if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
            return self.scope.values.get(f"{node.node.name}.{node.attr}")
        if isinstance(node, nodes.Concat):
            return self._combine([self.fold(n, d) for n in node.nodes])
        if isinstance(node, nodes.Add):
            return self._combine([self.fold(node.left, d), self.fold(node.right, d)])
        if isinstance(node, nodes.CondExpr):
            a, b = (
                self.fold(node.expr1, d),
                (self.fold(node.expr2, d) if node.expr2 is not None else None),
            )
            if a is None or b is None:
                return None
            return frozenset(list(a | b)[:_FOLD_VALUES])
        if isinstance(node, nodes.Filter):
            return self._fold_filter(node, d)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Slice):
            return self._fold_slice(node.node, node.arg, d)
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            return self._fold_method(node, node.node, d)
        return None

    def _combine(self, parts: list[frozenset[str] | None]) -> frozenset[str] | None:
        if any(p is None for p in parts):
            return None
        out: set[str] = set()
        for tried, combo in enumerate(product(*[sorted(p or ()) for p in parts])):
            if tried >= _FOLD_COMBINATIONS:
                return None  # too many ways to build it: unknown, not clean
            out.add("".join(combo)[:_FOLD_CHARS])
            if len(out) >= _FOLD_VALUES:
                break
        return frozenset(out)

    def _const_args(self, args: list[nodes.Expr], d: int) -> list[str] | None:
        out: list[str] = []
        for arg in args:
            vals = self.fold(arg, d)
            if vals is None or len(vals) != 1:
                return None
            out.append(next(iter(vals)))
        return out

    def _fold_filter(self, node: nodes.Filter, d: int) -> frozenset[str] | None:
        if node.node is None:
            return None
        if node.name == "join":
            if not isinstance(node.node, nodes.List | nodes.Tuple):
                return None
            sep = self._const_args(node.args[:1], d) if node.args else [""]
            if sep is None:
                return None
            parts: list[frozenset[str] | None] = []
            for i, item in enumerate(node.node.items[:_FOLD_VALUES]):
                if i:
                    parts.append(frozenset(sep))
                parts.append(self.fold(item, d))
            return self._combine(parts)
        base = self.fold(node.node, d)
        if base is None:
            return None
        args = self._const_args(node.args, d)
        if args is None:
            return None
        if node.name in _SIMPLE_FILTERS:
            fn = _SIMPLE_FILTERS[node.name]
            return frozenset(fn(v)[:_FOLD_CHARS] for v in base)
        if node.name == "replace" and len(args) >= 2:
            return frozenset(v.replace(args[0], args[1])[:_FOLD_CHARS] for v in base)
        if node.name == "format":
            out: set[str] = set()
            for v in base:
                try:
                    out.add((v % tuple(args))[:_FOLD_CHARS])
                except (TypeError, ValueError, KeyError, OverflowError):
                    return None
            return frozenset(out)
        return None

    def _fold_slice(self, target: nodes.Node, sl: nodes.Slice, d: int) -> frozenset[str] | None:
        base = self.fold(target, d)
        if base is None:
            return None
        bounds: list[int | None] = []
        for part in (sl.start, sl.stop, sl.step):
            if part is None:
                bounds.append(None)
            elif isinstance(part, nodes.Const) and isinstance(part.value, int):
                bounds.append(part.value)
            elif (
                isinstance(part, nodes.Neg)
                and isinstance(part.node, nodes.Const)
                and isinstance(part.node.value, int)
            ):
                bounds.append(-part.node.value)
            else:
                return None
        if bounds[2] == 0:
            return None
        return frozenset(v[bounds[0] : bounds[1] : bounds[2]] for v in base)

    def _fold_method(self, call: nodes.Call, attr: nodes.Getattr, d: int) -> frozenset[str] | None:
        if attr.attr == "join" and call.args and isinstance(call.args[0], nodes.List | nodes.Tuple):
            sep = self.fold(attr.node, d)
            if sep is None or len(sep) != 1:
                return None
            items = self._const_args(list(call.args[0].items[:_FOLD_VALUES]), d)
            return None if items is None else frozenset({next(iter(sep)).join(items)})
        base = self.fold(attr.node, d)
        args = self._const_args(list(call.args), d)
        if base is None or args is None:
            return None
        if attr.attr in ("lower", "upper", "strip", "title", "capitalize") and not args:
            return frozenset(getattr(str, attr.attr)(v) for v in base)
        if attr.attr == "replace" and len(args) >= 2:
            return frozenset(v.replace(args[0], args[1]) for v in base)
        return None

    def _builds_string(self, expr: nodes.Node) -> bool:
        """True when an expression assembles a string (so a key built from it is hidden)."""
        for count, node in enumerate(walk(expr)):
            if count > _BUILD_SCAN_NODES:
                return True
            if isinstance(node, nodes.Concat):
                return True
            if isinstance(node, nodes.Mod) and (
                isinstance(node.left, nodes.Const) and isinstance(node.left.value, str)
            ):
                return True
            if isinstance(node, nodes.Add) and (
                (isinstance(node.left, nodes.Const) and isinstance(node.left.value, str))
                or (isinstance(node.right, nodes.Const) and isinstance(node.right.value, str))
            ):
                return True
            if isinstance(node, nodes.Filter) and node.name in self.lists.string_builders:
                return True
            if (
                isinstance(node, nodes.Call)
                and isinstance(node.node, nodes.Getattr)
                and node.node.attr in _STRING_METHODS
            ):
                return True
            if isinstance(node, nodes.Name) and node.name in self.scope.built:
                return True
        return False

    # ---------------------------------------------------------- checks

    def run(self) -> list[TemplateHit]:
        self._collect_scope()
        for node in walk(self.parsed.tree):
            if isinstance(node, nodes.Getattr):
                self._attribute(node.attr, node, built=False)
            elif isinstance(node, nodes.Getitem):
                self._item(node)
            elif isinstance(node, nodes.Filter):
                self._filter(node)
            elif isinstance(node, nodes.Call):
                self._call(node)
            elif isinstance(node, nodes.Name) and node.ctx == "load":
                self._name(node)
            elif isinstance(node, nodes.Const) and isinstance(node.value, str):
                self._string(node)
            elif isinstance(node, nodes.Include | nodes.Import | nodes.FromImport | nodes.Extends):
                kind = type(node).__name__.lower().replace("fromimport", "from-import")
                self.hit(
                    "SW-TPL-020",
                    kind,
                    f"uses {{% {kind} %}} to load another template",
                    node,
                )
        return self.hits

    def _attribute(
        self, name: str, node: nodes.Node, *, built: bool, via: str = "", gadget: bool = True
    ) -> None:
        how = via or ("a name built from strings" if built else "attribute access")
        if _DUNDER.match(name):
            self.hit(
                "SW-TPL-010",
                name,
                f"reads {name} ({how}): Python internals, the path of template injection",
                node,
            )
        elif gadget and name in self.lists.gadget_attributes:
            self.hit(
                "SW-TPL-017",
                name,
                f"reads {name} ({how}), an attribute of Python internals, not of a message",
                node,
            )
        elif name.startswith("_"):
            self.hit("SW-TPL-011", name, f"reads the private attribute {name} ({how})", node)

    def _computed_name(
        self, expr: nodes.Node, node: nodes.Node, via: str, *, gadget: bool = True
    ) -> None:
        """Check an attribute/key name given as an expression."""
        if isinstance(expr, nodes.Const):
            if isinstance(expr.value, str):
                self._attribute(expr.value, node, built=False, via=via, gadget=gadget)
            return
        values = self.fold(expr)
        if values is not None:
            for value in sorted(values):
                self._attribute(
                    value, node, built=True, via=f"{via}, built from strings", gadget=gadget
                )
            if any(_DUNDER.match(v) or v.startswith("_") for v in values):
                return
        if self._builds_string(expr):
            self.hit(
                "SW-TPL-015",
                via,
                f"looks up {via} whose name is assembled at render time",
                node,
            )

    def _item(self, node: nodes.Getitem) -> None:
        if isinstance(node.arg, nodes.Slice):
            return
        self._computed_name(node.arg, node, "a subscript key", gadget=False)

    def _filter(self, node: nodes.Filter) -> None:
        if node.name in self.lists.attribute_filters:
            self.hit(
                "SW-TPL-012",
                node.name,
                f"uses the |{node.name} filter, which fetches attributes by computed name",
                node,
            )
            if node.args:
                self._computed_name(node.args[0], node, f"the |{node.name} filter's name")
            return
        if node.name in _ATTRIBUTE_FILTERS:
            index = _ATTRIBUTE_FILTERS[node.name]
            exprs = [kw.value for kw in node.kwargs if kw.key == "attribute"]
            if index is not None and len(node.args) > index:
                exprs.append(node.args[index])
            for expr in exprs:
                self._computed_name(expr, node, f"the |{node.name} filter's attribute")

    def _call(self, node: nodes.Call) -> None:
        if isinstance(node.node, nodes.Getattr) and node.node.attr in self.lists.format_methods:
            self.hit(
                "SW-TPL-013",
                node.node.attr,
                f"calls .{node.node.attr}(), whose placeholders can read attributes",
                node,
            )
            for fmt in sorted(self.fold(node.node.node) or ()):
                for name in _placeholder_attributes(fmt):
                    self._attribute(name, node, built=False, via="a str.format placeholder")

    def _name(self, node: nodes.Name) -> None:
        if node.name in self.lists.gadget_globals and node.name not in self.scope.bound:
            self.hit(
                "SW-TPL-014",
                node.name,
                f"names the Jinja global {node.name!r}, a starting point of sandbox escapes",
                node,
            )

    def _string(self, node: nodes.Const) -> None:
        value: str = node.value
        for needle in self.lists.suspicious_substrings:
            if needle in value:
                self.hit("SW-TPL-016", needle, f"has a string constant containing {needle!r}", node)
                return
        if _DUNDER_PIECE.search(value) and len(value) <= 64 and " " not in value:
            self.hit(
                "SW-TPL-016",
                "dunder-piece",
                f"has the string constant {value!r}, a piece of a double-underscore name",
                node,
            )


_FIELD_PART = re.compile(r"[.\[]([^.\[\]]*)")


def _placeholder_attributes(fmt: str) -> list[str]:
    """Attribute and key names that the replacement fields of a format string look up.

    ``"{0.__class__}"`` -> ``["__class__"]``. Uses :class:`string.Formatter`'s
    parser only (nothing is formatted).
    """
    names: list[str] = []
    try:
        fields = list(string.Formatter().parse(fmt))
    except (ValueError, IndexError):
        return names
    for _literal, field_name, _spec, _conv in fields[:_FOLD_VALUES]:
        if field_name:
            names.extend(m.group(1) for m in _FIELD_PART.finditer(field_name))
    return names


def analyze_template(parsed: ParsedTemplate) -> list[TemplateHit]:
    """Every :class:`TemplateHit` in a parsed template (pure: nothing is rendered)."""
    return _Analysis(parsed, _lists()).run()
