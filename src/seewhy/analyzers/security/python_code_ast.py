"""The syntax-tree machinery of :mod:`seewhy.analyzers.security.python_code`.

Imported by :func:`seewhy.analyzers.security.python_code.analyze_source` on
the first Python file of an audit, so a release without Python code never
pays for it (the danger lists, the visitor and their regular expressions).
"""

from __future__ import annotations

import ast
import base64
import binascii
import fnmatch
import io
import re
import tokenize
import tomllib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from urllib.parse import urlsplit

from seewhy.analyzers.security.python_code import (
    EXCERPT_MAX,
    MAX_AST_NODES,
    MAX_EVIDENCE,
    MAX_FINDINGS_PER_FILE,
    SourceAnalysis,
    SourceFinding,
)
from seewhy.budget import checkpoint, memory_limited
from seewhy.report.model import Evidence

__all__ = ["analyze_source"]

_RESOLVE_DEPTH = 32

_URL = re.compile(r"\b(?:https?|ftp|wss?)://[^\s'\"<>()\[\]{}\\`]+", re.IGNORECASE)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BASE64_CHARS = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_HEX_CHARS = re.compile(r"(?:[0-9a-fA-F]{2})+")
# Blanks within a line only ([ \t], never \s): on a file of a million empty
# lines, "^\s*" would rescan the rest of the file from every line (quadratic).
_PY2_HINTS = (
    re.compile(r"^[ \t]*print[ \t]+[^\s(=.,;]", re.MULTILINE),
    re.compile(r"^[ \t]*except[ \t]+(?:\([^)\n]*\)|[\w.]+)[ \t]*,[ \t]*\w+[ \t]*:", re.MULTILINE),
    re.compile(r"^[ \t]*exec[ \t]+[\"'\w]", re.MULTILINE),
    re.compile(r"^[ \t]*raise[ \t]+\w+[ \t]*,", re.MULTILINE),
    re.compile(r"\bur[\"']"),
)
_OPEN_FUNCS = frozenset({"open", "io.open", "builtins.open", "codecs.open", "os.fdopen"})


# ----------------------------------------------------------------- data


@dataclass(frozen=True)
class _Category:
    """One kind of dangerous call, with its name patterns compiled for speed."""

    name: str
    rule: str
    exact: frozenset[str]
    prefixes: tuple[str, ...]
    glob: re.Pattern[str] | None
    methods: frozenset[str] = frozenset()

    @classmethod
    def build(cls, name: str, rule: str, patterns: list[str], methods: list[str]) -> _Category:
        exact = frozenset(p for p in patterns if "*" not in p and "?" not in p)
        prefixes = tuple(p[:-1] for p in patterns if p.endswith(".*"))
        globs = [p for p in patterns if p not in exact and not p.endswith(".*")]
        glob = re.compile("|".join(fnmatch.translate(g) for g in globs)) if globs else None
        return cls(name, rule, exact, prefixes, glob, frozenset(methods))

    def matches(self, dotted: str) -> bool:
        """True when a resolved dotted name is one of this category's callables."""
        return (
            dotted in self.exact
            or dotted.startswith(self.prefixes)
            or (self.glob is not None and self.glob.match(dotted) is not None)
        )


@dataclass(frozen=True, eq=False)  # hashed by identity: one instance, memoised lookups
class _Danger:
    notable_imports: frozenset[str]
    dangerous_imports: frozenset[str]
    categories: tuple[_Category, ...]
    safe_keywords: dict[str, tuple[str, object]]
    import_time_rules: dict[str, str]
    getattr_modules: frozenset[str]
    allowed_module_calls: tuple[str, ...]
    blob_min_length: int
    known_hosts: tuple[str, ...]

    def category_of(self, name: str) -> _Category | None:
        """The first category one of whose patterns matches a dotted name."""
        return next(iter(self.categories_of(name)), None)

    def categories_of(self, name: str) -> list[_Category]:
        """Every category one of whose patterns matches a dotted name (memoised)."""
        return list(_categories_for(self, name))

    def category(self, name: str) -> _Category:
        """The category called ``name``."""
        return next(c for c in self.categories if c.name == name)


@lru_cache(maxsize=8192)
def _categories_for(danger: _Danger, name: str) -> tuple[_Category, ...]:
    return tuple(c for c in danger.categories if c.matches(name))


@lru_cache(maxsize=4096)
def _allowed_at_module_level(danger: _Danger, name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in danger.allowed_module_calls)


@cache
def _danger() -> _Danger:
    text = (resources.files("seewhy.data") / "security" / "python_danger.toml").read_text("utf-8")
    data = tomllib.loads(text)
    categories = tuple(
        _Category.build(name, spec["rule"], list(spec["names"]), list(spec.get("methods", ())))
        for name, spec in data["calls"].items()
    )
    safe = {
        name: (str(pair[0]), pair[1])
        for name, pair in data["calls"]["deserialization"].get("safe_keywords", {}).items()
    }
    return _Danger(
        notable_imports=frozenset(data["imports"]["notable"]),
        dangerous_imports=frozenset(data["imports"]["dangerous"]),
        categories=categories,
        safe_keywords=safe,
        import_time_rules=dict(data["import_time"]),
        getattr_modules=frozenset(data["getattr"]["sensitive_modules"]),
        allowed_module_calls=tuple(data["module_level"]["allowed_calls"]),
        blob_min_length=int(data["blobs"]["min_length"]),
        known_hosts=tuple(data["urls"]["known_hosts"]),
    )


@dataclass
class _Group:
    rule: str
    message: str
    evidence: list[Evidence] = field(default_factory=list)
    count: int = 0


class _Collector:
    """Groups findings of one file by (rule, subject), with capped evidence."""

    def __init__(self, path: str, lines: list[str]) -> None:
        self.path = path
        self.lines = lines
        self.groups: dict[tuple[str, str], _Group] = {}
        self.dropped = 0

    def excerpt(self, line: int | None) -> str | None:
        if line is None or not 1 <= line <= len(self.lines):
            return None
        text = self.lines[line - 1].strip()
        return text if len(text) <= EXCERPT_MAX else text[: EXCERPT_MAX - 1] + "…"

    def evidence(self, node: ast.AST, note: str | None = None) -> Evidence:
        line = getattr(node, "lineno", None)
        end = getattr(node, "end_lineno", None)
        return Evidence(
            path=self.path,
            line=line,
            end_line=end if end is not None and line is not None and end > line else None,
            excerpt=self.excerpt(line),
            note=note,
        )

    def add(
        self, rule: str, subject: str, message: str, node: ast.AST, note: str | None = None
    ) -> None:
        key = (rule, subject)
        group = self.groups.get(key)
        if group is None:
            if len(self.groups) >= MAX_FINDINGS_PER_FILE:
                self.dropped += 1
                return
            group = self.groups[key] = _Group(rule, message)
        group.count += 1
        if len(group.evidence) < MAX_EVIDENCE:
            group.evidence.append(self.evidence(node, note))

    def findings(self) -> tuple[SourceFinding, ...]:
        out: list[SourceFinding] = []
        for group in self.groups.values():
            message = group.message
            if group.count > 1:
                message += f" ({group.count} places"
                if group.count > len(group.evidence):
                    message += f", first {len(group.evidence)} shown"
                message += ")"
            out.append(SourceFinding(group.rule, message, tuple(group.evidence)))
        if self.dropped and out:
            last = out[-1]
            out[-1] = SourceFinding(
                last.rule_id,
                f"{last.message}; {self.dropped} more findings in this file not listed",
                last.evidence,
            )
        return tuple(out)


# ----------------------------------------------------------------- parsing


def _decode_source(data: bytes) -> str:
    """Source text for excerpts, honouring a PEP 263 coding cookie; never fails."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding, "replace")
    except (SyntaxError, LookupError, UnicodeError):
        return data.decode("utf-8", "replace")


def _python2_hint(text: str) -> str:
    return " (looks like Python 2)" if any(p.search(text) for p in _PY2_HINTS) else ""


def _parse(data: bytes, text: str) -> tuple[ast.Module | None, str, int | None]:
    """Parse source bytes; return (tree, why-not, line) with the tree None on failure."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(data, type_comments=False), "", None
    except SyntaxError as exc:
        why = f"syntax error: {exc.msg}{_python2_hint(text)}"
        return None, why, exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None
    except RecursionError:
        return None, "nests too deeply for the parser", None
    except MemoryError:
        if memory_limited():
            raise  # the memory budget ran out: reported as such (seewhy.budget)
        return None, "MemoryError: the parser ran out of memory", None
    except (ValueError, OverflowError) as exc:
        return None, f"{type(exc).__name__}: {exc}", None


# Byte classes of the first, C-speed estimate: word bytes (identifiers,
# numbers, keywords, non-ASCII) -> "a"; bytes that can make a syntax-tree node
# (operators, '.', calls/subscripts/displays, '=', statement ends) -> "."; the
# rest (closers, ',', ':', quotes, blanks) -> " ".
_NODE_PUNCT = b"+-*/%@&|^~<>=!.([{;\n"
_WORD_BYTES = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
_CLASSES = bytes(
    0x61 if (c in _WORD_BYTES or c >= 0x80) else 0x2E if c in _NODE_PUNCT else 0x20
    for c in range(256)
)
# Operator tokens that can make a node (closers, ',', ':' and the like make none).
_NODE_OPS = frozenset(
    re.findall(
        r"\S+",
        "+ - * / // % ** @ << >> & | ^ ~ < > <= >= == != . ( [ { "
        "= := ; -> += -= *= /= //= %= **= @= <<= >>= &= |= ^=",
    )
)
_NODE_TOKENS = frozenset({tokenize.NAME, tokenize.NUMBER, tokenize.NEWLINE})


def _byte_estimate(data: bytes) -> int:
    """Words plus node-making punctuation: an upper bound of the syntax tree, at C speed.

    Words inside strings and comments count too, so it overestimates prose
    (two to five times on real code); it only decides whether the exact
    token count is needed.
    """
    t = data.translate(_CLASSES)
    return t.count(b" a") + t.count(b".a") + (t[:1] == b"a") + t.count(b".")


def _token_estimate(data: bytes, limit: int) -> int:
    """Tokens that can make a syntax-tree node, counted up to ``limit`` + 1.

    Names, numbers, strings (and twice the replacement fields of f-strings),
    operators and statement ends; brackets that close, commas and colons
    make none. On code this is 0.7-1.3 times the number of nodes
    :func:`ast.parse` builds; on code built to blow up the tree it is about
    one per node. Stops at the first tokenizer error (the parser reports it).
    """
    count = 0
    try:
        for tok in tokenize.tokenize(io.BytesIO(data).readline):
            kind = tok.type
            if kind == tokenize.STRING:
                quote = min(i for i in (tok.string.find("'"), tok.string.find('"')) if i >= 0)
                if "f" in tok.string[:quote].lower():  # each field: a FormattedValue and more
                    count += 2 * tok.string.count("{")
                count += 1
            elif kind in _NODE_TOKENS or (kind == tokenize.OP and tok.string in _NODE_OPS):
                count += 1
            else:
                continue
            if count > limit:
                break
            if not count & 0xFFF:
                checkpoint()
    except (tokenize.TokenError, SyntaxError, UnicodeError, LookupError):
        pass
    return count


def _tree_too_large(data: bytes) -> str | None:
    """Why ``data`` would build a syntax tree past :data:`MAX_AST_NODES`, or None.

    A pre-pass, so that a hostile file is refused before :func:`ast.parse`
    builds a tree of a gigabyte: a linear byte count first, and the exact
    token count (stopping at the cap) only when the bytes could pass it.
    """
    if _byte_estimate(data) <= MAX_AST_NODES:
        return None
    tokens = _token_estimate(data, MAX_AST_NODES)
    if tokens <= MAX_AST_NODES:
        return None
    return (
        f"more than {MAX_AST_NODES:,} tokens that make syntax-tree nodes, above the "
        f"{MAX_AST_NODES:,}-node cap (refused before parsing)"
    )


# ----------------------------------------------------------------- the visitor


@dataclass
class _Names:
    """Flow-insensitive name facts of one module."""

    aliases: dict[str, str] = field(default_factory=dict)
    local: set[str] = field(default_factory=set)
    constants: dict[str, str | bytes] = field(default_factory=dict)
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    assignments: list[ast.Assign] = field(default_factory=list)
    docstrings: set[int] = field(default_factory=set)
    nodes: int = 0


class _TooManyNodes(Exception):
    """The syntax tree is larger than the analyzer's node budget."""


def _module_level(tree: ast.Module) -> Iterator[ast.stmt]:
    """Statements that run at module level, through if/try/with/for (not defs)."""
    stack: list[ast.stmt] = list(reversed(tree.body))
    while stack:
        stmt = stack.pop()
        yield stmt
        if isinstance(stmt, ast.If) and _is_main_guard(stmt.test):
            stack.extend(reversed(stmt.orelse))
            continue
        children: list[ast.stmt] = []
        if isinstance(stmt, ast.If | ast.For | ast.AsyncFor | ast.While):
            children = [*stmt.body, *stmt.orelse]
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            children = list(stmt.body)
        elif isinstance(stmt, ast.Try | ast.TryStar):
            children = [*stmt.body, *stmt.orelse, *stmt.finalbody]
            for handler in stmt.handlers:
                children.extend(handler.body)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                children.extend(case.body)
        stack.extend(reversed(children))


def _is_main_guard(test: ast.expr) -> bool:
    """``if __name__ == "__main__":`` (its body does not run on import)."""
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _collect_names(tree: ast.Module) -> _Names:
    names = _Names()
    for stmt in _module_level(tree):
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            names.functions.setdefault(stmt.name, stmt)
            names.local.add(stmt.name)
        elif isinstance(stmt, ast.ClassDef):
            names.classes.setdefault(stmt.name, stmt)
            names.local.add(stmt.name)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names.local.update(t.id for t in targets if isinstance(t, ast.Name))
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str | bytes)
        ):
            names.constants[stmt.targets[0].id] = stmt.value.value
    for node in ast.walk(tree):
        names.nodes += 1
        if names.nodes > MAX_AST_NODES:
            raise _TooManyNodes
        if not names.nodes & 0xFFF:
            checkpoint()
        if isinstance(node, ast.Assign):
            if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                names.assignments.append(node)
        elif isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                names.docstrings.add(id(body[0].value))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names.aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names.aliases[top] = top
        elif isinstance(node, ast.ImportFrom):
            base = "." * (node.level or 0) + (node.module or "")
            for alias in node.names:
                if alias.name == "*":
                    continue
                joined = base and not base.endswith(".")
                full = f"{base}.{alias.name}" if joined else base + alias.name
                names.aliases[alias.asname or alias.name] = full
    names.local.difference_update(names.aliases)
    return names


class _Visitor:
    """Walks one module's tree once, tracking whether code runs at import time."""

    def __init__(self, tree: ast.Module, out: _Collector, danger: _Danger) -> None:
        self.tree = tree
        self.out = out
        self.danger = danger
        self.names = _collect_names(tree)
        self._alias_assignments()
        self.hot = self._import_time_functions()
        self.docstrings = self.names.docstrings

    # ---------------------------------------------------------- names

    def _alias_assignments(self) -> None:
        """``x = os.system`` / ``m = __import__("os")`` make x and m aliases."""
        for node in self.names.assignments:
            target = node.targets[0].id  # type: ignore[attr-defined]
            if target in self.names.aliases:
                continue
            resolved = self.resolve(node.value)
            if resolved is None:
                continue
            top = resolved.split(".")[0]
            d = self.danger
            if (
                top in d.notable_imports
                or top in d.dangerous_imports
                or top in d.getattr_modules
                or d.category_of(resolved) is not None
            ):
                self.names.aliases[target] = resolved
                self.names.local.discard(target)

    def resolve(self, node: ast.expr, depth: int = 0) -> str | None:
        """The dotted name an expression stands for, after aliases; None if unknown."""
        if depth > _RESOLVE_DEPTH:
            return None
        attrs: list[str] = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
            if len(attrs) > _RESOLVE_DEPTH:
                return None
        base: str | None = None
        if isinstance(node, ast.Name):
            if node.id in self.names.aliases:
                base = self.names.aliases[node.id]
            elif node.id in self.names.local:
                return None
            else:
                base = "builtins" if node.id == "__builtins__" else node.id
        elif isinstance(node, ast.Call):
            base = self._resolve_call_value(node, depth + 1)
        elif isinstance(node, ast.Subscript):
            inner = self.resolve(node.value, depth + 1)
            key = node.slice
            if (
                inner in ("builtins", "__builtins__")
                and isinstance(key, ast.Constant)
                and isinstance(key.value, str)
            ):
                base = f"builtins.{key.value}"
        if base is None:
            return None
        return ".".join([base, *reversed(attrs)])

    def _resolve_call_value(self, call: ast.Call, depth: int) -> str | None:
        """What ``__import__("os")`` or ``getattr(os, "system")`` evaluates to."""
        func = self.resolve(call.func, depth)
        if func is None or not call.args:
            return None
        first = call.args[0]
        if func in ("__import__", "builtins.__import__", "importlib.import_module"):
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                return first.value
            return None
        if func in ("getattr", "builtins.getattr") and len(call.args) >= 2:
            obj = self.resolve(first, depth)
            name = call.args[1]
            if obj is not None and isinstance(name, ast.Constant) and isinstance(name.value, str):
                return f"{obj}.{name.value}"
        return None

    # ---------------------------------------------------------- import time

    def _callee_bodies(self, name: str | None) -> list[ast.AST]:
        """Definitions that run when a local name is called (function, or class init)."""
        if name is None or "." in name:
            return []
        if name in self.names.functions:
            return [self.names.functions[name]]
        cls = self.names.classes.get(name)
        if cls is None:
            return []
        return [
            stmt
            for stmt in cls.body
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef)
            and stmt.name in ("__init__", "__new__", "__post_init__", "__call__")
        ]

    def _subclass_hooks(self, cls: ast.ClassDef) -> list[ast.AST]:
        """``__init_subclass__`` of local base classes, which run when ``cls`` is defined."""
        hooks: list[ast.AST] = []
        for base in cls.bases:
            parent = self.names.classes.get(self._local_name(base) or "")
            if parent is not None:
                hooks.extend(
                    s
                    for s in parent.body
                    if isinstance(s, ast.FunctionDef) and s.name == "__init_subclass__"
                )
        return hooks

    def _local_name(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Call):
            node = node.func
        if isinstance(node, ast.Name) and node.id not in self.names.aliases:
            return node.id
        return None

    def _import_time_functions(self) -> set[int]:
        """ids of function definitions whose bodies run while the module is imported."""
        hot: set[int] = set()
        if not self.names.functions and not self.names.classes:
            return hot
        # Each body is queued once (when it first becomes hot): linear overall.
        queue: list[ast.AST] = [self.tree]
        while queue:
            root = queue.pop()
            for node, import_time in self._walk(root, hot, only_import_time=True):
                if not import_time:
                    continue
                called: list[str | None] = []
                if isinstance(node, ast.Call):
                    called.append(self._local_name(node.func))
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    called.extend(self._local_name(d) for d in node.decorator_list)
                bodies = [b for name in called for b in self._callee_bodies(name)]
                if isinstance(node, ast.ClassDef):
                    bodies.extend(self._subclass_hooks(node))
                for body in bodies:
                    if id(body) not in hot:
                        hot.add(id(body))
                        queue.append(body)
        return hot

    def _walk(
        self, root: ast.AST, hot: set[int], *, only_import_time: bool = False
    ) -> Iterator[tuple[ast.AST, bool]]:
        """Nodes under ``root`` with whether each runs at import time.

        A function definition's decorators, defaults and annotations run where
        it is defined; its body runs at import time only if it is in ``hot``
        (or it is ``root`` itself, queued because it is hot).
        """
        start_hot = root is self.tree or id(root) in hot
        stack: list[tuple[ast.AST, bool]] = [(root, start_hot)]
        while stack:
            node, import_time = stack.pop()
            yield node, import_time
            children: list[tuple[ast.AST, bool]]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                body_hot = (node is root and start_hot) or id(node) in hot
                outer = [
                    *getattr(node, "decorator_list", ()),
                    *node.args.defaults,
                    *(d for d in node.args.kw_defaults if d is not None),
                ]
                if getattr(node, "returns", None) is not None:
                    outer.append(node.returns)  # type: ignore[union-attr]
                body = node.body if isinstance(node.body, list) else [node.body]
                if only_import_time and not body_hot:
                    body = []
                children = [(c, import_time) for c in outer] + [(c, body_hot) for c in body]
            elif isinstance(node, ast.If) and _is_main_guard(node.test) and import_time:
                children = [(node.test, True)]
                children += [(c, False) for c in node.body if not only_import_time]
                children += [(c, True) for c in node.orelse]
            else:
                kids = list(ast.iter_child_nodes(node))
                kids.reverse()
                stack.extend((c, import_time) for c in kids)
                continue
            stack.extend(reversed(children))

    # ---------------------------------------------------------- the walk

    def run(self) -> None:
        """Report everything in the module."""
        module_level = {id(s) for s in _module_level(self.tree)}
        for step, (node, import_time) in enumerate(self._walk(self.tree, self.hot)):
            if not step & 0xFFF:
                checkpoint()
            if isinstance(node, ast.Import | ast.ImportFrom):
                self._import(node)
            elif isinstance(node, ast.Call):
                self._call(node, import_time)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
                self._constant(node)
            if id(node) in module_level and isinstance(node, ast.stmt):
                self._side_effect(node)

    # ---------------------------------------------------------- imports

    def _import_module(self, module: str, node: ast.AST, how: str) -> None:
        top = module.split(".")[0]
        d = self.danger
        if top in d.dangerous_imports:
            self.out.add(
                "SW-PY-041",
                f"import:{top}",
                f"imports {top} ({how}), a module model code has no need for",
                node,
            )
        elif top in d.notable_imports:
            self.out.add("SW-PY-040", f"import:{top}", f"imports {top}", node)

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                self._import_module(alias.name, node, f"import {alias.name}")
            return
        if node.level or not node.module:
            return  # relative: a module of the release, analysed on its own
        self._import_module(node.module, node, f"from {node.module} import ...")
        for alias in node.names:
            full = f"{node.module}.{alias.name}"
            cat = self.danger.category_of(full)
            if cat is not None and cat.name not in ("decode", "write"):
                self.out.add(
                    "SW-PY-041",
                    f"import:{full}",
                    f"imports {full} by name ({cat.name})",
                    node,
                )

    # ---------------------------------------------------------- calls

    def _constantish(self, node: ast.expr, depth: int = 0) -> bool:
        """True when a value is a literal written in the file (or derived only from one)."""
        if depth > _RESOLVE_DEPTH:
            return False
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str | bytes)
        if isinstance(node, ast.Name):
            return node.id in self.names.constants
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._constantish(node.left, depth + 1) and self._constantish(
                node.right, depth + 1
            )
        if isinstance(node, ast.Call):
            if (
                isinstance(node.func, ast.Attribute)
                and node.func.attr in ("encode", "decode", "strip", "replace", "join")
                and self._constantish(node.func.value, depth + 1)
            ):
                return True
            name = self.resolve(node.func)
            if name is not None and node.args and self._is_decoder(name):
                return self._constantish(node.args[0], depth + 1)
        return False

    def _is_decoder(self, name: str) -> bool:
        return any(c.name == "decode" for c in self.danger.categories_of(name))

    def _call(self, node: ast.Call, import_time: bool) -> None:
        name = self.resolve(node.func)
        cats: list[_Category] = []
        subject = name or ""
        if name is not None:
            if name in ("getattr", "builtins.getattr"):
                self._getattr(node, import_time)
                return
            cats = self.danger.categories_of(name)
            if name in _OPEN_FUNCS and _write_mode(node):
                cats.append(self.danger.category("write"))
        elif isinstance(node.func, ast.Attribute):
            write = self.danger.category("write")
            if node.func.attr in write.methods:
                cats, subject = [write], f".{node.func.attr}()"
        for cat in cats:
            self._report_call(node, cat, subject, import_time)

    def _report_call(self, node: ast.Call, cat: _Category, subject: str, import_time: bool) -> None:
        first = node.args[0] if node.args else None
        if cat.name == "decode" and (first is None or not self._constantish(first)):
            return
        if cat.name == "deserialization" and self._safe_keywords(subject, node):
            return
        if (
            cat.name == "dynamic_import"
            and isinstance(first, ast.Constant)
            and isinstance(first.value, str)
        ):
            self._import_module(first.value, node, f"{subject}({first.value!r})")
            return
        message = _CALL_MESSAGES[cat.name].format(name=subject)
        if cat.name == "exec" and first is not None and self._constantish(first):
            message += " on a payload written in the file"
        self.out.add(cat.rule, f"{cat.name}:{subject}", message, node)
        if import_time:
            rule = self.danger.import_time_rules.get(cat.name)
            if rule is not None:
                self.out.add(
                    rule,
                    f"{cat.name}:{subject}",
                    f"{message} while the module is imported",
                    node,
                    "runs at import time",
                )

    def _safe_keywords(self, name: str, node: ast.Call) -> bool:
        pair = self.danger.safe_keywords.get(name)
        if pair is None:
            return False
        key, value = pair
        return any(
            kw.arg == key and isinstance(kw.value, ast.Constant) and kw.value.value == value
            for kw in node.keywords
        )

    def _getattr(self, node: ast.Call, import_time: bool) -> None:
        if len(node.args) < 2:
            return
        obj = self.resolve(node.args[0])
        if obj is None or obj.split(".")[0] not in self.danger.getattr_modules:
            return
        attr = node.args[1]
        if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
            return  # resolved statically: the call it feeds is checked by name
        message = f"fetches an attribute of {obj} with getattr() under a computed name"
        self.out.add("SW-PY-015", f"getattr:{obj}", message, node)
        if import_time:
            self.out.add(
                self.danger.import_time_rules["dynamic_import"],
                f"getattr:{obj}",
                f"{message} while the module is imported",
                node,
                "runs at import time",
            )

    # ---------------------------------------------------------- side effects

    def _side_effect(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call | ast.Await):
            call = stmt.value.value if isinstance(stmt.value, ast.Await) else stmt.value
            if not isinstance(call, ast.Call):
                return
            name = self.resolve(call.func)
            described = _describe_callee(call.func)
            shown = name or described
            if _allowed_at_module_level(self.danger, shown) or _allowed_at_module_level(
                self.danger, described
            ):
                return
            self.out.add(
                "SW-PY-031",
                f"call:{shown}",
                f"calls {shown}() at module level, so it runs when the module is imported",
                stmt,
            )
        elif isinstance(stmt, ast.Assign | ast.AugAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Subscript) and self.resolve(target.value) == "os.environ":
                    self.out.add(
                        "SW-PY-031",
                        "environ",
                        "sets an environment variable at module level",
                        stmt,
                    )

    # ---------------------------------------------------------- constants

    def _constant(self, node: ast.Constant) -> None:
        value = node.value
        if not isinstance(value, str | bytes):
            return
        if isinstance(value, str) and id(node) not in self.docstrings and "://" in value:
            for match in _URL.finditer(value[:100_000]):
                self._url(match.group(), node)
        if len(value) >= self.danger.blob_min_length:
            what = _decode_blob(value)
            if what is not None:
                self.out.add(
                    "SW-PY-020",
                    "blob",
                    f"a {len(value):,}-character string constant is encoded data ({what})",
                    node,
                )

    def _url(self, url: str, node: ast.AST) -> None:
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            host = ""
        known = any(host == h or host.endswith("." + h) for h in self.danger.known_hosts)
        if known:
            self.out.add("SW-PY-050", f"url:{host}", f"links to {host}", node)
        else:
            self.out.add(
                "SW-PY-051", f"url:{host}", f"holds a URL to {host or 'an unparseable host'}", node
            )


_CALL_MESSAGES = {
    "exec": "calls {name}(), which runs code built at run time",
    "process": "calls {name}(), which runs operating-system commands",
    "network": "calls {name}(), which reaches the network",
    "native": "calls {name}(), which loads or calls native code",
    "deserialization": "calls {name}(), which deserialises with pickle or marshal",
    "dynamic_import": "calls {name}() with a computed module name or a file path",
    "delete": "calls {name}(), which deletes, moves or re-permissions files",
    "write": "writes files with {name}",
    "decode": "calls {name}() on a constant: a payload shipped in the source",
}


def _write_mode(call: ast.Call) -> bool:
    mode: ast.expr | None = call.args[1] if len(call.args) >= 2 else None
    for kw in call.keywords:
        if kw.arg == "mode":
            mode = kw.value
    if mode is None:
        return False
    if not isinstance(mode, ast.Constant) or not isinstance(mode.value, str):
        return True  # a computed mode may write
    return any(c in mode.value for c in "wax+")


def _describe_callee(func: ast.expr, depth: int = 0) -> str:
    parts: list[str] = []
    node = func
    while isinstance(node, ast.Attribute) and len(parts) < 8:
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call):
        parts.append(f"{_describe_callee(node.func, depth + 1) if depth < 4 else '<expr>'}(...)")
    elif parts:
        parts.append("<expr>")
    else:
        return "<expression>"
    return ".".join(reversed(parts))


def _decode_blob(value: str | bytes) -> str | None:
    """Describe what a long base64/hex constant decodes to; None if it is not one."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    # Base64 is wrapped with line breaks, never with spaces (prose has spaces).
    compact = text.replace("\r", "").replace("\n", "")
    if len(compact) < 64 or " " in compact:
        return None
    raw: bytes | None = None
    kind = ""
    if _HEX_CHARS.fullmatch(compact):
        try:
            raw, kind = bytes.fromhex(compact), "hex"
        except ValueError:
            raw = None
    one_case_word = compact.isalpha() and (compact.islower() or compact.isupper())
    if (
        raw is None
        and not one_case_word
        and _BASE64_CHARS.fullmatch(compact)
        and len(compact) % 4 == 0
    ):
        try:
            alt = b"-_" if ("-" in compact or "_" in compact) else None
            raw = base64.b64decode(compact, altchars=alt, validate=True)
            kind = "base64"
        except (binascii.Error, ValueError):
            raw = None
    if raw is None:
        return None
    return f"{kind}, {len(raw):,} bytes decoded: {_sniff_payload(raw)}"


def _sniff_payload(raw: bytes) -> str:
    head = raw[:16]
    if head[:1] == b"\x78" and head[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
        return "zlib-compressed data"
    if head[:2] == b"\x1f\x8b":
        return "gzip data"
    if head[:3] == b"BZh":
        return "bzip2 data"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz data"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a pickle"
    if head[:1] in (b"\xe3", b"\x63"):
        return "possibly a marshalled code object"
    if head[:4] == b"\x7fELF":
        return "an ELF executable"
    if head[:2] == b"MZ":
        return "a Windows executable"
    if head[:4] == b"PK\x03\x04":
        return "a zip archive"
    try:
        sample = raw[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    if re.search(r"\b(import|exec|eval|def|lambda|subprocess|os\.system)\b", sample):
        return "text that looks like Python code"
    return "text"


# ----------------------------------------------------------------- entry points


def analyze_source(data: bytes, path: str = "<source>") -> SourceAnalysis:
    """Analyse the bytes of one Python file (never imported or run).

    Returns whether it parsed, a coverage detail, and findings as
    (rule id, message, evidence) records.
    """
    text = _decode_source(data)
    lines = _LINE_BREAK.split(text)
    out = _Collector(path, lines)
    too_large = _tree_too_large(data)
    if too_large is not None:
        tree, why, line = None, too_large, None
    else:
        tree, why, line = _parse(data, text)
    if tree is None:
        ev = Evidence(path=path, line=line, excerpt=out.excerpt(line), note=why)
        return SourceAnalysis(
            parsed=False,
            detail=f"not parsed: {why}",
            findings=(SourceFinding("SW-PY-001", f"{path} does not parse: {why}", (ev,)),),
        )
    try:
        visitor = _Visitor(tree, out, _danger())
        visitor.run()
    except (RecursionError, _TooManyNodes) as exc:
        # ast.walk and the visitor are iterative; this guards helpers on odd trees.
        note = (
            f"the syntax tree has more than {MAX_AST_NODES:,} nodes"
            if isinstance(exc, _TooManyNodes)
            else "the syntax tree nests too deeply to analyse"
        )
        ev = Evidence(path=path, note=note)
        return SourceAnalysis(
            parsed=False,
            detail=f"not analysed: {note}",
            findings=(*out.findings(), SourceFinding("SW-PY-001", f"{path}: {note}", (ev,))),
        )
    findings = out.findings()
    return SourceAnalysis(
        parsed=True,
        detail=f"parsed with ast ({len(lines):,} lines; not imported)",
        findings=findings,
    )
