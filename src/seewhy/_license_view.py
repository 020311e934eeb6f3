"""What ``seewhy license`` prints: the license analysis of one file or a release.

A license text file is identified by its words; a release folder or a model
file (GGUF metadata keys ``general.license*``) goes through the same
:func:`~seewhy.analyzers.license.release_licenses` the audit uses, so both
commands find the same licenses. The JSON form holds the license analyzer's
facts and findings in the report's own models (``Fact``, ``Finding``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath

from seewhy.analyzers.interface import AuditContext
from seewhy.analyzers.license import LicenseAnalyzer, ReleaseLicenses, describe, identify_bytes
from seewhy.analyzers.license.explain import Explanation, explain_text
from seewhy.analyzers.license.identify import CACHE_KEY, MAX_LICENSE_BYTES, release_licenses
from seewhy.analyzers.license.normalize import decode
from seewhy.errors import UsageError
from seewhy.release import open_release
from seewhy.release.model import Release, ReleaseIssue
from seewhy.report.model import SCHEMA_VERSION, Fact, Finding

__all__ = ["ExplainView", "LicenseView", "explain_view", "license_view"]

# Model files whose metadata may carry a license (read as a release, not as text).
_GGUF_MAGIC = b"GGUF"
_LOOKED_AT = "license files, the model card and GGUF metadata"


@dataclass(frozen=True)
class LicenseView:
    """The license analysis of one source, ready to print."""

    source: str
    release: Release
    found: ReleaseLicenses
    facts: tuple[Fact, ...]
    findings: tuple[Finding, ...]

    @property
    def gaps(self) -> tuple[ReleaseIssue, ...]:
        """Parts of the release that could not be read."""
        return self.release.gaps

    @property
    def inconclusive(self) -> bool:
        """No license found, one not identified, or part of the release unread."""
        matches = self.found.matches
        return not matches or any(m.license_id is None for m in matches) or bool(self.gaps)

    def _gap_lines(self) -> list[str]:
        return [f"could not read {self._where(g.path)}: {g.problem.message}" for g in self.gaps]

    def _where(self, path: str) -> str:
        return self.source if path in ("", ".") else path

    def _none_found(self) -> str:
        where = f"what could be read of {self.source}" if self.gaps else self.source
        return f"no license statement found in {where} (looked at {_LOOKED_AT})"

    def text(self) -> str:
        """Plain text: one block per statement, then what could not be read."""
        parts: list[str] = []
        if self.found.matches:
            parts.append(describe(self.found.matches).rstrip("\n"))
        else:
            parts.append(self._none_found())
        gaps = self._gap_lines()
        if gaps:
            parts.append("\n".join(gaps))
        return "\n\n".join(parts) + "\n"

    def markdown(self) -> str:
        """Markdown: a table of the statements, the restrictive clauses, the findings."""
        out = [f"## seewhy license: {_md(self.release.name)}", ""]
        if self.found.matches:
            out += [
                "| Where | License | Kind | Version | OSI | Confidence |",
                "|---|---|---|---|---|---|",
            ]
            for m in self.found.matches:
                where = m.location.path + (f":{m.location.line}" if m.location.line else "")
                name = f"{m.name} (`{m.license_id}`)" if m.license_id else "not identified"
                osi = "unknown" if m.osi_approved is None else "yes" if m.osi_approved else "no"
                out.append(
                    f"| {_md(where)} | {_md(name)} | {m.kind} | {_md(m.version or '—')} "
                    f"| {osi} | {m.confidence:.2f} |"
                )
        else:
            out.append(_md(self._none_found()))
        tags = self.found.tags
        if tags:
            out += ["", "### Restrictive clauses", ""]
            for t in tags:
                out.append(f"- **{_md(t.tag)}** ({_md(t.location.path)}): “{_md(t.quote)}”")
        if self.findings:
            out += ["", "### Findings", ""]
            for f in self.findings:
                out.append(f"- **{f.severity.value}** {f.rule_id} {_md(f.title)}: {_md(f.message)}")
        gaps = self._gap_lines()
        if gaps:
            out += ["", "### Not read", ""] + [f"- {_md(g)}" for g in gaps]
        return "\n".join(out) + "\n"

    def json(self) -> str:
        """JSON: the audit report's license facts and findings, in the report's schema."""
        doc = {
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "release": self.release.name,
            "identified": bool(self.found.matches)
            and all(m.license_id is not None for m in self.found.matches),
            "facts": [f.model_dump(mode="json") for f in self.facts],
            "findings": [f.model_dump(mode="json") for f in self.findings],
            "unreadable": [
                {"path": self._where(g.path), "code": g.problem.code, "message": g.problem.message}
                for g in self.gaps
            ],
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def license_view(source: str) -> LicenseView:
    """Analyse the licenses of ``source`` (a license file, a model file, a folder or a
    Hub repository ``org/name[@rev]``, of which only the small files are fetched)."""
    from seewhy.audit import open_source

    release = open_source(source)
    ctx = AuditContext()
    if release.source_kind == "file" and release.files:
        file = release.files[0]
        if release.read_head(file, len(_GGUF_MAGIC)) != _GGUF_MAGIC:
            # A lone text file is a license text, whatever its name.
            data = release.read_head(file, MAX_LICENSE_BYTES)
            matches = identify_bytes(
                data, PurePosixPath(file.path).name, truncated=file.size > MAX_LICENSE_BYTES
            )
            ctx.cache[CACHE_KEY] = ReleaseLicenses(matches)
    found = release_licenses(release, ctx)
    result = LicenseAnalyzer().analyze(release, ctx)
    return LicenseView(
        source=source,
        release=release,
        found=found,
        facts=tuple(result.facts),
        findings=tuple(result.findings),
    )


# ------------------------------------------------------------------ explain


@dataclass(frozen=True)
class ExplainView:
    """``seewhy license --explain FILE``: one text's decision and the reasons for it."""

    source: str
    explanation: Explanation

    @property
    def inconclusive(self) -> bool:
        """The text is not identified."""
        return any(m.license_id is None for m in self.explanation.matches)

    def _decision(self) -> list[str]:
        out = []
        for m in self.explanation.matches:
            where = m.location.path + (f":{m.location.line}" if m.location.line else "")
            if m.license_id is None:
                out.append(f"{where}  not identified ({m.kind})")
                continue
            osi = "unknown" if m.osi_approved is None else "yes" if m.osi_approved else "no"
            out.append(
                f"{where}  {m.name}  [{m.license_id}]  version {m.version or 'unknown'} · "
                f"OSI-approved: {osi} · confidence {m.confidence:.2f}"
            )
        return out

    def _changes(self) -> list[tuple[str, str, str]]:
        rows = []
        for c in self.explanation.changes:
            where = f"line {c.location.line}" if c.location.line else "?"
            tags = ", ".join(t.tag for t in c.tags)
            rows.append((f"{'+' if c.op == 'added' else '-'} {where}", c.text, tags))
        return rows

    def text(self) -> str:
        """Plain text."""
        e = self.explanation
        out = ["Decision:", *(f"  {line}" for line in self._decision()), "", "Nearest known texts:"]
        out += [
            f"  {n.similarity:6.1%}  {n.name} [{n.license_id}] ({n.basis})" for n in e.nearest
        ] or ["  none"]
        if e.compared_with:
            out += ["", f"Differences from the canonical {e.compared_with} text:"]
            rows = self._changes()
            out += [
                f"  {op}: “{text}”" + (f"  [{tags}]" if tags else "") for op, text, tags in rows
            ] or ["  none that change its meaning"]
        out += ["", "Why:", *(f"  - {r}" for r in e.reasons)]
        return "\n".join(out) + "\n"

    def markdown(self) -> str:
        """Markdown."""
        e = self.explanation
        out = [f"## seewhy license --explain: {_md(self.source)}", "", "### Decision", ""]
        out += [f"- {_md(line)}" for line in self._decision()]
        out += [
            "",
            "### Nearest known texts",
            "",
            "| License | Similarity | Basis |",
            "|---|---|---|",
        ]
        out += [
            f"| {_md(n.name)} (`{n.license_id}`) | {n.similarity:.1%} | {n.basis} |"
            for n in e.nearest
        ]
        if e.compared_with:
            out += ["", f"### Differences from the canonical `{e.compared_with}` text", ""]
            out += [
                f"- **{_md(op)}** “{_md(text)}”" + (f" ({_md(tags)})" if tags else "")
                for op, text, tags in self._changes()
            ] or ["- none that change its meaning"]
        out += ["", "### Why", ""] + [f"- {_md(r)}" for r in e.reasons]
        return "\n".join(out) + "\n"

    def json(self) -> str:
        """JSON."""
        doc = {
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            **self.explanation.to_dict(),
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def explain_view(source: str) -> ExplainView:
    """Explain the identification of one license text file."""
    release = open_release(source)
    if release.source_kind != "file" or not release.files:
        raise UsageError(f"--explain reads one license text file; {source} is not a file")
    file = release.files[0]
    data = release.read_head(file, MAX_LICENSE_BYTES)
    decoded = decode(data)
    name = PurePosixPath(file.path).name
    return ExplainView(source, explain_text(decoded.text or "", name))
