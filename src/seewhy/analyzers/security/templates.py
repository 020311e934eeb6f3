"""Chat templates: server-side template injection, found in the Jinja syntax tree.

Serving stacks render a release's chat template with the conversation as
context; rendered outside a sandbox (CVE-2024-34359), a template that walks
Python's object model runs commands. This analyzer finds every template of
the release:

* ``chat_template`` in any JSON configuration (``tokenizer_config.json``,
  ``chat_template.json``, processor configs), as a string, a list of
  ``{"name", "template"}`` objects, or a name -> template object;
* ``*.jinja`` / ``*.j2`` / ``*.jinja2`` files and files sniffed as Jinja;
* ``tokenizer.chat_template`` and ``tokenizer.chat_template.<name>`` of GGUF
  files (the header only);

parses each one with :func:`seewhy.formats.template.parse_template` (never
compiled or rendered) and walks the tree for dunder and private attribute
access, the ``attr`` filter, ``str.format``, escape gadgets (``cycler``,
``lipsum``, ``self``, ...), attribute names built from strings (a small
constant folder follows ``{% set %}``, ``~``, ``|join``, ``|replace``,
``|reverse`` and slices), gadget attributes (``popen``, ``f_globals``, ...),
suspicious string constants and ``include``/``import``/``extends``. Name
lists are data (``seewhy/data/security/templates.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from seewhy.analyzers.interface import AnalyzerResult, AuditContext, ResultBuilder
from seewhy.analyzers.security.remote_code import is_json_candidate, scan_json_file
from seewhy.budget import BudgetExceeded
from seewhy.errors import FormatError, ReleaseReadError
from seewhy.formats.jsondoc import json_pointer_escape
from seewhy.formats.template import (
    MAX_TEMPLATE_CHARS,
    ParsedTemplate,
    TemplateParseError,
    parse_template,
)
from seewhy.release.model import FileKind, Release, ReleaseFile
from seewhy.report.model import CoverageStatus, Evidence

if TYPE_CHECKING:
    from seewhy.formats.gguf import GgufInfo

__all__ = [
    "GGUF_CACHE_KEY",
    "TemplateAnalyzer",
    "TemplateHit",
    "TemplateSource",
    "analyze_template",
]

GGUF_CACHE_KEY = "gguf"
"""``ctx.cache[(GGUF_CACHE_KEY, path)]`` holds a parsed :class:`GgufInfo`, if any analyzer
stored one; this analyzer reads it there and stores what it parses itself."""

TEMPLATE_SUFFIXES = (".jinja", ".j2", ".jinja2")
MAX_EVIDENCE = 20
MAX_HITS = 500
MAX_TEMPLATES_PER_FILE = 64
EXCERPT_MAX = 200


# ----------------------------------------------------------------- the tree walk


@dataclass(frozen=True)
class TemplateHit:
    """One thing a template does that matters: a rule, what it is about, and the line."""

    rule_id: str
    subject: str
    message: str
    line: int | None


def analyze_template(parsed: ParsedTemplate) -> list[TemplateHit]:
    """Every :class:`TemplateHit` in a parsed template (pure: nothing is rendered).

    The walk (:mod:`seewhy.analyzers.security.templates_tree`) imports Jinja's
    node classes; it is imported here, on the first template to check.
    """
    from seewhy.analyzers.security.templates_tree import analyze_template as analyze

    return analyze(parsed)


# ----------------------------------------------------------------- sources


@dataclass(frozen=True)
class TemplateSource:
    """One template and where it lives in the release.

    ``kind`` is ``"file"`` (a template file: template lines are file lines),
    ``"json"`` (``line`` is the line of the ``chat_template`` key) or
    ``"gguf"`` (``offset`` is the byte offset of the metadata key).
    """

    path: str
    kind: str
    label: str
    text: str | bytes
    pointer: str | None = None
    line: int | None = None
    offset: int | None = None

    def evidence(self, template_line: int | None, excerpt: str | None, note: str) -> Evidence:
        """Evidence for something at ``template_line`` of this template."""
        where = f"template line {template_line}" if template_line else "template"
        if self.kind == "file":
            return Evidence(path=self.path, line=template_line, excerpt=excerpt, note=note)
        return Evidence(
            path=self.path,
            line=self.line,
            offset=self.offset,
            pointer=self.pointer,
            excerpt=excerpt,
            note=f"{where} of {self.label}; {note}" if note else f"{where} of {self.label}",
        )


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text if len(text) <= EXCERPT_MAX else text[: EXCERPT_MAX - 1] + "…"


def _is_template_file(file: ReleaseFile) -> bool:
    return file.kind is FileKind.JINJA or file.path.lower().endswith(TEMPLATE_SUFFIXES)


class TemplateAnalyzer:
    """Finds every chat template of the release and checks its syntax tree for injection."""

    name = "security.templates"

    def analyze(self, release: Release, ctx: AuditContext) -> AnalyzerResult:
        """See :class:`~seewhy.analyzers.interface.Analyzer`."""
        b = ResultBuilder(self.name, ctx.rules)
        for file in release.files:
            if not (
                _is_template_file(file) or file.kind is FileKind.GGUF or is_json_candidate(file)
            ):
                continue
            try:
                with ctx.budget.bound(file.path):
                    self._file(release, file, ctx, b)
            except BudgetExceeded as exc:
                b.over_budget(file.path, exc)
        return b.result

    def _file(
        self, release: Release, file: ReleaseFile, ctx: AuditContext, b: ResultBuilder
    ) -> None:
        """Check the chat templates of one file; cover it."""
        sources: list[TemplateSource] | None
        if _is_template_file(file):
            sources = self._file_source(release, file, b)
        elif file.kind is FileKind.GGUF:
            sources = self._gguf_sources(release, file, ctx, b)
        else:
            sources = self._json_sources(release, file, ctx, b)
        if not sources:
            return
        skipped = max(len(sources) - MAX_TEMPLATES_PER_FILE, 0)
        sources = sources[:MAX_TEMPLATES_PER_FILE]
        failed = sum(0 if self._check(source, b) else 1 for source in sources)
        n = len(sources)
        if failed or skipped:
            detail = f"{failed} of {n} chat template(s) could not be parsed"
            if skipped:
                detail += f"; {skipped} more not checked (cap of {MAX_TEMPLATES_PER_FILE})"
            b.cover(file.path, CoverageStatus.INCONCLUSIVE, detail)
        else:
            b.cover(
                file.path,
                CoverageStatus.PARSED,
                f"{n} chat template(s) parsed and checked (never rendered)",
            )

    # ---------------------------------------------------------- sources

    def _file_source(
        self, release: Release, file: ReleaseFile, b: ResultBuilder
    ) -> list[TemplateSource] | None:
        limit = 4 * MAX_TEMPLATE_CHARS
        if file.size > limit:
            data: bytes = b""
            too_large = True
        else:
            try:
                data = release.read_head(file, limit)
            except ReleaseReadError as exc:
                b.cover(file.path, CoverageStatus.ERROR, f"read failed: {exc.reason}")
                return None
            too_large = False
        if too_large:
            source = TemplateSource(file.path, "file", PurePosixPath(file.path).name, b"")
            self._failed(
                source,
                TemplateParseError(
                    "template.too-large", f"{file.size:,} bytes, above the template cap"
                ),
                b,
            )
            b.cover(file.path, CoverageStatus.INCONCLUSIVE, "template too large; not parsed")
            return None
        return [TemplateSource(file.path, "file", PurePosixPath(file.path).name, data)]

    def _json_sources(
        self, release: Release, file: ReleaseFile, ctx: AuditContext, b: ResultBuilder
    ) -> list[TemplateSource] | None:
        scan = scan_json_file(release, file, ctx)
        if scan.error is not None or not scan.has_chat_template:
            return None
        value = scan.chat_template
        line = scan.chat_template_line
        out: list[TemplateSource] = []
        if isinstance(value, str):
            out.append(
                TemplateSource(file.path, "json", "chat_template", value, "/chat_template", line)
            )
        elif isinstance(value, list):
            for i, entry in enumerate(value):
                if (
                    isinstance(entry, dict)
                    and isinstance(entry.get("template"), str)
                    and isinstance(entry.get("name", ""), str)
                ):
                    label = f"chat_template {entry.get('name') or i!s}"
                    pointer = f"/chat_template/{i}/template"
                    out.append(
                        TemplateSource(file.path, "json", label, entry["template"], pointer, line)
                    )
                else:
                    self._malformed(file.path, f"/chat_template/{i}", entry, line, b)
        elif isinstance(value, dict):
            for key, template in value.items():
                pointer = f"/chat_template/{json_pointer_escape(str(key))}"
                if isinstance(template, str):
                    out.append(
                        TemplateSource(
                            file.path, "json", f"chat_template {key}", template, pointer, line
                        )
                    )
                else:
                    self._malformed(file.path, pointer, template, line, b)
        elif value is not None:
            self._malformed(file.path, "/chat_template", value, line, b)
        return out

    def _malformed(
        self, path: str, pointer: str, value: Any, line: int | None, b: ResultBuilder
    ) -> None:
        b.finding(
            "SW-TPL-003",
            f"{path}: chat_template entry at {pointer} is a {type(value).__name__}, "
            "not a template string or a {name, template} object",
            [Evidence(path=path, line=line, pointer=pointer)],
        )

    def _gguf_sources(
        self, release: Release, file: ReleaseFile, ctx: AuditContext, b: ResultBuilder
    ) -> list[TemplateSource] | None:
        from seewhy.formats.gguf import GgufInfo, parse_gguf

        cached = ctx.cache.get((GGUF_CACHE_KEY, file.path))
        info: GgufInfo | None = cached if isinstance(cached, GgufInfo) else None
        if info is None:
            try:
                with release.open(file) as src:
                    info = parse_gguf(src)
            except (FormatError, ReleaseReadError) as exc:
                reason = exc.message if isinstance(exc, FormatError) else exc.reason
                b.cover(
                    file.path,
                    CoverageStatus.INCONCLUSIVE,
                    f"chat templates not checked: the GGUF header could not be parsed ({reason})",
                )
                return None
            except (ValueError, OverflowError, MemoryError, RecursionError) as exc:
                b.cover(
                    file.path,
                    CoverageStatus.INCONCLUSIVE,
                    f"chat templates not checked: GGUF parser failed ({type(exc).__name__})",
                )
                return None
            ctx.cache[(GGUF_CACHE_KEY, file.path)] = info
        out: list[TemplateSource] = []
        for key, value in info.metadata.items():
            if key != "tokenizer.chat_template" and not key.startswith("tokenizer.chat_template."):
                continue
            offset = info.kv_offsets.get(key)
            if not isinstance(value, str):
                b.finding(
                    "SW-TPL-003",
                    f"{file.path}: GGUF key {key} is not a string",
                    [Evidence(path=file.path, offset=offset, pointer=key)],
                )
                continue
            out.append(TemplateSource(file.path, "gguf", key, value, key, offset=offset))
        return out

    # ---------------------------------------------------------- checking

    def _failed(self, source: TemplateSource, exc: TemplateParseError, b: ResultBuilder) -> None:
        rule = b.rules.for_problem(exc.code)
        excerpt = None
        if isinstance(source.text, str) and exc.line is not None:
            lines = source.text.split("\n")
            excerpt = _clip(lines[exc.line - 1]) if 1 <= exc.line <= len(lines) else None
        b.finding(
            rule,
            f"{source.path}: {source.label} could not be parsed: {exc.message}",
            [source.evidence(exc.line, excerpt, exc.code)],
        )

    def _check(self, source: TemplateSource, b: ResultBuilder) -> bool:
        """Parse and check one template; False when it could not be parsed."""
        try:
            parsed = parse_template(source.text)
        except TemplateParseError as exc:
            self._failed(source, exc, b)
            return False
        groups: dict[tuple[str, str], list[TemplateHit]] = {}
        for hit in analyze_template(parsed):
            groups.setdefault((hit.rule_id, hit.subject), []).append(hit)
        for (rule, _subject), hits in groups.items():
            evidence = [
                source.evidence(h.line, _clip(parsed.line_text(h.line)), h.subject)
                for h in hits[:MAX_EVIDENCE]
            ]
            message = f"{source.path}: {source.label} {hits[0].message}"
            if len(hits) > 1:
                message += f" ({len(hits)} places)"
            b.finding(rule, message, evidence)
        return True
