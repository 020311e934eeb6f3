"""Remote code: what a loader imports from the release, or from elsewhere, when asked to.

transformers runs Python shipped with a release when a configuration has an
``auto_map`` and the user passes ``trust_remote_code=True``
(``transformers/dynamic_module_utils.py``). This analyzer reads every JSON
configuration of the release (parsed, bounded, nothing executed) and reports:

* that loading requires ``trust_remote_code`` at all, listing the modules;
* references of the form ``owner/repo--module.Class``, which fetch code from
  another Hub repository at its default branch (transformers pins
  ``code_revision`` only for the repository being loaded);
* referenced modules, and their relative imports, that are missing;
* malformed references; a ``custom_generate/`` folder; model cards that tell
  users to trust remote code.

:func:`scan_json_file` is shared with the template analyzer: it reads one
JSON file once per audit (through :attr:`AuditContext.cache`) and keeps only
what the security analyzers need (``auto_map`` values and ``chat_template``).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

from seewhy.analyzers.interface import AnalyzerResult, AuditContext, ResultBuilder
from seewhy.budget import BudgetExceeded
from seewhy.errors import FormatError, ReleaseReadError
from seewhy.formats.jsondoc import json_pointer_escape, line_of_key, load_json
from seewhy.release.model import FileKind, Release, ReleaseFile
from seewhy.report.model import CoverageStatus, Evidence

__all__ = [
    "MAX_JSON_BYTES",
    "ClassRef",
    "JsonScan",
    "RemoteCodeAnalyzer",
    "is_json_candidate",
    "parse_class_ref",
    "scan_json_file",
]

MAX_JSON_BYTES = 16 * 1024 * 1024
"""Largest JSON file read for auto_map and chat_template."""

MAX_CODE_BYTES = 2 * 1024 * 1024
"""Largest Python file read for relative imports."""

MAX_CARD_BYTES = 4 * 1024 * 1024
"""Bytes of a model card searched for trust_remote_code phrases."""

MAX_REFS = 500
"""Most class references checked per file; the rest are counted."""

MAX_FOLLOWED_MODULES = 500
"""Most modules followed through relative imports."""

EXCERPT_MAX = 200

_JSON_KINDS = frozenset({FileKind.CONFIG, FileKind.TOKENIZER, FileKind.JSON})
# A JSON string, from its opening quote (unrolled loop: no backtracking blow-up).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_QUOTE = re.compile(r'[^"]+')
_COLON = re.compile(r"[ \t\r\n]*:")
# ASCII characters written as \u00XX: a key may be spelled this way in JSON.
_ASCII_ESCAPE = re.compile(rb"\\u00[0-7][0-9a-fA-F]")
# transformers' own patterns (dynamic_module_utils.get_relative_imports).
_RELATIVE_IMPORT = re.compile(r"^\s*(?:import\s+\.(\S+)\s*$|from\s+\.(\S+)\s+import)", re.MULTILINE)
_MODULE_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_CLASS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(?:/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")

_MISSING = object()


# ----------------------------------------------------------------- data


@dataclass(frozen=True)
class _Lists:
    config_names: frozenset[str]
    custom_code_folders: frozenset[str]
    card_phrases: tuple[str, ...]


@cache
def _lists() -> _Lists:
    text = (resources.files("seewhy.data") / "security" / "remote_code.toml").read_text("utf-8")
    data = tomllib.loads(text)
    return _Lists(
        config_names=frozenset(data["config_names"]),
        custom_code_folders=frozenset(data["custom_code_folders"]),
        card_phrases=tuple(data["card_phrases"]),
    )


# ----------------------------------------------------------------- shared JSON scan


@dataclass(frozen=True)
class JsonScan:
    """What the security analyzers need from one JSON file, read once per audit.

    ``error`` is set when the file could not be read or parsed (``too_large``
    when it was over the cap); then nothing else is. ``auto_maps`` holds each
    ``auto_map`` value found at any depth with its JSON pointer and the line
    of its key; ``chat_template`` is the top-level value or None when absent.
    ``text`` is kept only for files that have either key.
    """

    path: str
    error: str | None = None
    too_large: bool = False
    auto_maps: tuple[tuple[str, Any, int | None], ...] = ()
    has_chat_template: bool = False
    chat_template: Any = None
    chat_template_line: int | None = None
    text: str = field(default="", repr=False)


def _key_positions(text: str, key: str) -> list[int]:
    """Character index of every object key equal to ``key``, at any depth, in order.

    Linear and without recursion: the text is split into strings and
    non-strings from the start, so a string is always matched from its
    opening quote; a string followed by a colon is a key.
    """
    found: list[int] = []
    pos = 0
    size = len(text)
    while pos < size:
        if text[pos] != '"':
            m = _NOT_QUOTE.match(text, pos)
            pos = m.end() if m else pos + 1
            continue
        m = _JSON_STRING.match(text, pos)
        if m is None:
            break
        end = m.end()
        if _COLON.match(text, end):
            raw = m.group()
            if raw == f'"{key}"' or ("\\" in raw and _decode_json_string(raw) == key):
                found.append(pos)
        pos = end
    return found


def _decode_json_string(raw: str) -> str | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _line_text(text: str, index: int) -> str:
    """The whole line of ``text`` that holds character ``index``."""
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n", index)
    return text[start:] if end < 0 else text[start:end]


def _find_auto_maps(value: Any) -> list[tuple[str, Any]]:
    """Every ``auto_map`` key at any depth, with its pointer, in document order."""
    found: list[tuple[str, Any]] = []
    stack: list[tuple[str, Iterator[tuple[str | int, Any]]]] = []

    def entries(node: Any) -> Iterator[tuple[str | int, Any]]:
        return iter(node.items()) if isinstance(node, dict) else enumerate(node)

    if isinstance(value, dict | list):
        stack.append(("", entries(value)))
    while stack:
        pointer, it = stack[-1]
        entry = next(it, None)
        if entry is None:
            stack.pop()
            continue
        token, child = entry
        child_pointer = f"{pointer}/{json_pointer_escape(str(token))}"
        if token == "auto_map" and isinstance(token, str):
            found.append((child_pointer, child))
            continue
        if isinstance(child, dict | list) and child:
            stack.append((child_pointer, entries(child)))
    return found


def scan_json_file(release: Release, file: ReleaseFile, ctx: AuditContext) -> JsonScan:
    """Read one JSON file for ``auto_map`` and ``chat_template``, once per audit.

    The result is cached in ``ctx.cache`` under ``("security.json", path)``.
    Files whose bytes name neither key (also not through ``\\u00XX`` escapes)
    are not parsed at all.
    """
    key = ("security.json", file.path)
    cached = ctx.cache.get(key)
    if isinstance(cached, JsonScan):
        return cached
    scan = _scan_json(release, file)
    ctx.cache[key] = scan
    return scan


def _scan_json(release: Release, file: ReleaseFile) -> JsonScan:
    if file.size > MAX_JSON_BYTES:
        return JsonScan(
            file.path,
            error=f"{file.size:,} bytes, above the {MAX_JSON_BYTES:,}-byte cap",
            too_large=True,
        )
    try:
        data = release.read_head(file, MAX_JSON_BYTES)
    except ReleaseReadError as exc:
        return JsonScan(file.path, error=f"read failed: {exc.reason}")
    if b"auto_map" not in data and b"chat_template" not in data and not _ASCII_ESCAPE.search(data):
        # Neither key can be in the file. Configurations transformers reads
        # are still checked to be JSON, so that a broken one is not "clean".
        if PurePosixPath(file.path).name in _lists().config_names:
            try:
                load_json(data, what=PurePosixPath(file.path).name, code_prefix="json")
            except FormatError as exc:
                return JsonScan(file.path, error=exc.message)
        return JsonScan(file.path)
    try:
        value, _problems = load_json(data, what=PurePosixPath(file.path).name, code_prefix="json")
    except FormatError as exc:
        return JsonScan(file.path, error=exc.message)
    auto_maps = _find_auto_maps(value)
    has_template = isinstance(value, dict) and "chat_template" in value
    if not auto_maps and not has_template:
        return JsonScan(file.path)
    text = data.decode("utf-8-sig", "replace")
    positions = _key_positions(text, "auto_map") if auto_maps else []
    located: list[tuple[str, Any, int | None]] = []
    for i, (pointer, am) in enumerate(auto_maps):
        line: int | None = None
        if len(positions) == len(auto_maps):
            line = _line_at(text, positions[i])
        elif pointer == "/auto_map":
            line = line_of_key(text, "auto_map")
        located.append((pointer, am, line))
    return JsonScan(
        file.path,
        auto_maps=tuple(located),
        has_chat_template=has_template,
        chat_template=value.get("chat_template") if has_template else None,
        chat_template_line=line_of_key(text, "chat_template") if has_template else None,
        text=text,
    )


def is_json_candidate(file: ReleaseFile) -> bool:
    """True for files the security analyzers read as JSON configuration."""
    return file.kind in _JSON_KINDS or (
        file.path.lower().endswith(".json") and file.kind is not FileKind.WEIGHT_INDEX
    )


# ----------------------------------------------------------------- class references


@dataclass(frozen=True)
class ClassRef:
    """One parsed ``auto_map`` class reference.

    ``repo`` is set for ``owner/repo--module.Class``; ``module`` may contain
    ``/`` (a subfolder of the repository). ``problem`` says why a reference
    is malformed, and then the other fields may be empty.
    """

    text: str
    repo: str | None = None
    module: str = ""
    class_name: str = ""
    problem: str | None = None

    @property
    def module_file(self) -> str:
        """The file transformers fetches for the module: ``module + ".py"``."""
        return f"{self.module}.py"


def parse_class_ref(text: str) -> ClassRef:
    """Parse a class reference the way transformers splits it, and judge its shape."""
    repo: str | None = None
    rest = text
    if "--" in text:
        parts = text.split("--")
        if len(parts) != 2:
            return ClassRef(text, problem="more than one '--' separator")
        repo, rest = parts
        if not _REPO_ID.match(repo) or ".." in repo:
            return ClassRef(text, repo=repo, problem=f"repository id {repo!r} is not valid")
    if rest.startswith(("/", "\\")) or "\\" in rest or ".." in rest or ":" in rest:
        return ClassRef(text, repo=repo, problem="the module path is absolute or climbs out (..)")
    pieces = rest.split(".")
    if len(pieces) != 2:
        return ClassRef(text, repo=repo, problem="not of the form module.Class (one dot)")
    module, class_name = pieces
    if not class_name or not _CLASS_NAME.match(class_name):
        return ClassRef(text, repo=repo, problem=f"class name {class_name!r} is not valid")
    if not module:
        return ClassRef(text, repo=repo, problem="empty module name")
    parts = module.split("/")
    if any(p in ("", "..", ".") for p in parts):
        return ClassRef(text, repo=repo, problem=f"module path {module!r} climbs or is empty")
    if not all(_MODULE_PART.match(p) for p in parts):
        return ClassRef(text, repo=repo, problem=f"module name {module!r} has odd characters")
    return ClassRef(text, repo=repo, module=module, class_name=class_name)


def _iter_refs(value: Any, pointer: str) -> Iterator[tuple[str, Any]]:
    """Leaves of an auto_map value: (pointer, value) for every non-container item."""
    stack: list[tuple[str, Any]] = [(pointer, value)]
    while stack:
        ptr, node = stack.pop()
        if isinstance(node, dict):
            items = [(f"{ptr}/{json_pointer_escape(str(k))}", v) for k, v in node.items()]
            stack.extend(reversed(items))
        elif isinstance(node, list):
            stack.extend(reversed([(f"{ptr}/{i}", v) for i, v in enumerate(node)]))
        else:
            yield ptr, node


# ----------------------------------------------------------------- analyzer


@dataclass
class _State:
    modules: dict[str, list[Evidence]] = field(default_factory=dict)
    remote: list[tuple[ClassRef, Evidence]] = field(default_factory=list)


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= EXCERPT_MAX else text[: EXCERPT_MAX - 1] + "…"


def _ref_line(text: str, ref: str, key_line: int | None) -> int | None:
    """Line of the first ``"ref"`` string at or after the auto_map key's line."""
    if not text:
        return key_line
    start = 0
    if key_line is not None and key_line > 1:
        idx = -1
        for _ in range(key_line - 1):
            idx = text.find("\n", idx + 1)
            if idx < 0:
                break
        start = max(idx, 0)
    hit = text.find(json.dumps(ref), start)
    if hit < 0:
        hit = text.find(json.dumps(ref, ensure_ascii=False), start)
    return _line_at(text, hit) if hit >= 0 else key_line


class RemoteCodeAnalyzer:
    """Reports code that loading the release would import: auto_map, custom_generate."""

    name = "security.remote_code"

    def analyze(self, release: Release, ctx: AuditContext) -> AnalyzerResult:
        """See :class:`~seewhy.analyzers.interface.Analyzer`."""
        b = ResultBuilder(self.name, ctx.rules)
        lists = _lists()
        state = _State()
        paths = {f.path for f in release.files}
        for file in release.files:
            if is_json_candidate(file):
                try:
                    with ctx.budget.bound(file.path):
                        self._config(release, file, ctx, b, state, lists, paths)
                except BudgetExceeded as exc:
                    b.over_budget(file.path, exc)
        self._missing_modules(release, b, state, paths)
        self._custom_generate(release, b, lists)
        self._cards(release, b, lists)
        return b.result

    # ---------------------------------------------------------- configs

    def _config(
        self,
        release: Release,
        file: ReleaseFile,
        ctx: AuditContext,
        b: ResultBuilder,
        state: _State,
        lists: _Lists,
        paths: set[str],
    ) -> None:
        scan = scan_json_file(release, file, ctx)
        name = PurePosixPath(file.path).name
        known = name in lists.config_names
        if scan.error is not None:
            if known:
                b.finding(
                    "SW-RC-007",
                    f"{file.path} was not checked for auto_map: {scan.error}",
                    [Evidence(path=file.path, note=scan.error)],
                )
                b.cover(
                    file.path, CoverageStatus.INCONCLUSIVE, f"auto_map not checked: {scan.error}"
                )
            return
        if not scan.auto_maps:
            if known:
                b.cover(file.path, CoverageStatus.PARSED, "checked for auto_map: none")
            return
        folder = PurePosixPath(file.path).parent
        refs: list[tuple[ClassRef, Evidence]] = []
        checked = 0
        skipped = 0
        for pointer, value, key_line in scan.auto_maps:
            for ptr, leaf in _iter_refs(value, pointer):
                if checked >= MAX_REFS:
                    skipped += 1
                    continue
                checked += leaf is not None
                self._leaf(file, scan, ptr, leaf, key_line, folder, paths, b, state, refs)
        if refs:
            modules = sorted({r.module_file for r, _ in refs if r.repo is None})
            remote = sorted({f"{r.repo}--{r.module_file}" for r, _ in refs if r.repo})
            listed = ", ".join([*modules, *remote][:20])
            b.finding(
                "SW-RC-001",
                f"{file.path} maps {len(refs)} class(es) to remote code ({listed}); "
                "transformers loads them only with trust_remote_code=True",
                [ev for _, ev in refs][:20],
            )
        detail = f"auto_map: {checked} reference(s) checked"
        if skipped:
            detail += f", {skipped} more not checked (cap)"
            b.cover(file.path, CoverageStatus.INCONCLUSIVE, detail)
        else:
            b.cover(file.path, CoverageStatus.PARSED, detail)

    def _leaf(
        self,
        file: ReleaseFile,
        scan: JsonScan,
        pointer: str,
        leaf: Any,
        key_line: int | None,
        folder: PurePosixPath,
        paths: set[str],
        b: ResultBuilder,
        state: _State,
        refs: list[tuple[ClassRef, Evidence]],
    ) -> None:
        if leaf is None:
            return  # [slow, null]: no class of that kind
        if not isinstance(leaf, str):
            b.finding(
                "SW-RC-005",
                f"auto_map value at {pointer} is a {type(leaf).__name__}, not a class reference",
                [
                    Evidence(
                        path=file.path,
                        line=key_line,
                        pointer=pointer,
                        excerpt=_clip(json.dumps(leaf)[:EXCERPT_MAX]),
                    )
                ],
            )
            return
        ev = Evidence(
            path=file.path,
            line=_ref_line(scan.text, leaf, key_line),
            pointer=pointer,
            excerpt=_clip(leaf),
            note=f"auto_map key at line {key_line}" if key_line else "auto_map",
        )
        ref = parse_class_ref(leaf)
        if ref.problem is not None:
            b.finding("SW-RC-005", f"auto_map reference {leaf!r}: {ref.problem}", [ev])
            return
        refs.append((ref, ev))
        if ref.repo is not None:
            b.finding(
                "SW-RC-002",
                f"auto_map reference {leaf!r} loads {ref.module_file} from the Hub repository "
                f"{ref.repo} at its default branch, not from this release",
                [ev],
            )
            return
        for candidate in _module_candidates(folder, ref.module_file):
            if candidate in paths:
                state.modules.setdefault(candidate, []).append(ev)
                return
        b.finding(
            "SW-RC-003",
            f"auto_map reference {leaf!r} needs {ref.module_file}, which is not in the release",
            [ev],
        )

    # ---------------------------------------------------------- relative imports

    def _missing_modules(
        self, release: Release, b: ResultBuilder, state: _State, paths: set[str]
    ) -> None:
        """Follow relative imports of the referenced modules, as transformers does."""
        queue = sorted(state.modules)
        seen = set(queue)
        while queue and len(seen) <= MAX_FOLLOWED_MODULES:
            path = queue.pop(0)
            file = release.file(path)
            if file is None or file.size > MAX_CODE_BYTES:
                continue
            try:
                text = release.read_head(file, MAX_CODE_BYTES).decode("utf-8", "replace")
            except ReleaseReadError:
                continue
            folder = PurePosixPath(path).parent
            for match in _RELATIVE_IMPORT.finditer(text):
                name = (match.group(1) or match.group(2) or "").lstrip(".")
                if not name or not all(_MODULE_PART.match(p) for p in name.split(".")):
                    continue
                target = str(folder / (name.replace(".", "/") + ".py"))
                target = target.removeprefix("./")
                package = str(folder / name.replace(".", "/") / "__init__.py").removeprefix("./")
                if target in paths or package in paths:
                    found = target if target in paths else package
                    if found not in seen:
                        seen.add(found)
                        queue.append(found)
                    continue
                b.finding(
                    "SW-RC-003",
                    f"{path} imports .{name} (relative), but {target} is not in the release; "
                    "transformers fetches relative imports of remote code",
                    [
                        Evidence(
                            path=path,
                            line=_line_at(text, match.start()),
                            excerpt=_clip(_line_text(text, match.start())),
                        )
                    ],
                )

    # ---------------------------------------------------------- custom_generate

    def _custom_generate(self, release: Release, b: ResultBuilder, lists: _Lists) -> None:
        folders: dict[str, list[ReleaseFile]] = {}
        for file in release.files:
            parts = PurePosixPath(file.path).parts
            for i, part in enumerate(parts[:-1]):
                if part in lists.custom_code_folders:
                    folders.setdefault("/".join(parts[: i + 1]), []).append(file)
                    break
        for folder, files in sorted(folders.items()):
            generate = next((f for f in files if f.path == f"{folder}/generate.py"), None)
            evidence = [
                Evidence(path=f.path, line=1 if f is generate else None, note=f.kind.value)
                for f in sorted(files, key=lambda f: (f is not generate, f.path))[:10]
            ]
            if generate is not None:
                message = (
                    f"{folder}/ ships generate.py, which transformers imports (with "
                    "trust_remote_code=True) to replace model.generate()"
                )
            else:
                message = f"{folder}/ holds {len(files)} file(s) but no generate.py"
            b.finding("SW-RC-004", message, evidence)

    # ---------------------------------------------------------- model card

    def _cards(self, release: Release, b: ResultBuilder, lists: _Lists) -> None:
        for file in release.files:
            if file.kind is not FileKind.MODEL_CARD:
                continue
            try:
                text = release.read_head(file, MAX_CARD_BYTES).decode("utf-8", "replace")
            except ReleaseReadError:
                continue
            evidence: list[Evidence] = []
            for phrase in lists.card_phrases:
                start = 0
                while len(evidence) < 10:
                    hit = text.find(phrase, start)
                    if hit < 0:
                        break
                    evidence.append(
                        Evidence(
                            path=file.path,
                            line=_line_at(text, hit),
                            excerpt=_clip(_line_text(text, hit)),
                        )
                    )
                    start = hit + len(phrase)
            if evidence:
                evidence.sort(key=lambda e: e.line or 0)
                b.finding(
                    "SW-RC-006",
                    f"{file.path} tells users to pass trust_remote_code ({len(evidence)} place(s))",
                    evidence,
                )


def _module_candidates(folder: PurePosixPath, module_file: str) -> list[str]:
    """Where a module may live: beside the config, then at the release root."""
    beside = str(folder / module_file).removeprefix("./")
    return [beside] if beside == module_file else [beside, module_file]
