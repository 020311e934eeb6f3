"""Group repeated findings: one finding per problem, with a count.

A ``torch.save`` of 300 tensors has hundreds of zip entries with the same
flag bit; a parser reports each one and then "... and N more not listed".
Listing them all buries the findings that matter, so the audit groups them
once, before any output format sees the report (JSON, SARIF, Markdown and
text agree on what a finding is):

* findings of one rule, severity and analyzer whose messages differ only in
  their variable parts (numbers, quoted names, paths, dotted names) become one
  finding with :attr:`~seewhy.report.model.Finding.occurrences` set, the first
  few distinct messages and up to :data:`MAX_EVIDENCE` pieces of evidence,
  one per file first, so every file name stays visible;
* a parser's own "N more ... not listed" finding is folded into the group of
  its rule and file, its N added to the count;
* at high and above only numbers count as variable (a different name or path
  is a different finding), and findings in different files are grouped only
  while every file can be named in the evidence (at most :data:`MAX_EVIDENCE`
  files); beyond that they are grouped per file.

Nothing is dropped silently: the count says how many occurrences a finding
stands for and its message says how many distinct messages were left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from seewhy.report.model import Evidence, Finding, Severity

__all__ = ["MAX_EVIDENCE", "MAX_MESSAGES", "group_findings", "message_template"]

MAX_EVIDENCE = 20
"""Evidence kept on a grouped finding (one per file first)."""
MAX_MESSAGES = 3
"""Distinct messages quoted in a grouped finding's message."""

_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`|“[^”\n]*”|‘[^’\n]*’")
_DIGITS = re.compile(r"\d[\d,._]*")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_TOKEN = re.compile(r"\S+")
_EDGE = ".,;:()[]{}<>!?"
# A parser's own truncation: "... and 206 more zip.flag-bits problems not listed",
# "100 more problems of this kind not listed".
_NOT_LISTED = re.compile(r"(?:^|\s)(\d[\d,]*) more\b[^\n]*\bnot listed\b", re.IGNORECASE)


def message_template(message: str, *, strict: bool = False) -> str:
    """``message`` with its variable parts replaced by placeholders.

    Numbers (decimal or hex) always vary; unless ``strict``, so do quoted
    strings and tokens that look like paths or dotted names
    (``model.layers.3.weight``, ``sub/dir/file.bin``).
    """
    text = _HEX.sub("#", message)
    if strict:
        return _DIGITS.sub("#", text)
    text = _QUOTED.sub("'*'", text)

    def token(m: re.Match[str]) -> str:
        word = m.group(0)
        core = word.strip(_EDGE)
        if any(c.isdigit() for c in core) or "/" in core or "\\" in core:
            return "*"
        if "." in core and not core.startswith(".") and "..." not in core:
            return "*"
        return word

    return _TOKEN.sub(token, text)


def _paths(f: Finding) -> tuple[str, ...]:
    return tuple(dict.fromkeys(e.path for e in f.evidence if e.path))


def _key(f: Finding) -> tuple[object, ...]:
    strict = f.severity.rank >= Severity.HIGH.rank
    return (
        f.rule_id,
        f.severity,
        f.confidence,
        f.analyzer,
        f.title,
        f.cwe,
        message_template(f.message, strict=strict),
    )


@dataclass
class _Group:
    members: list[Finding] = field(default_factory=list)
    hidden: int = 0  # occurrences a parser counted but did not list

    def paths(self) -> set[str]:
        return {p for m in self.members for p in _paths(m)}


def _not_listed(f: Finding) -> int | None:
    m = _NOT_LISTED.search(f.message)
    if m is None or len(_paths(f)) != 1:
        return None
    return int(m.group(1).replace(",", ""))


def _pick_evidence(members: Sequence[Finding]) -> tuple[Evidence, ...]:
    """Up to MAX_EVIDENCE pieces: the first piece of each file first, then the rest in order."""
    every = list(dict.fromkeys(e for m in members for e in m.evidence))
    chosen: list[int] = []
    seen_paths: set[str | None] = set()
    for i, ev in enumerate(every):
        if ev.path not in seen_paths:
            seen_paths.add(ev.path)
            chosen.append(i)
    for i in range(len(every)):
        if len(chosen) >= MAX_EVIDENCE:
            break
        if i not in chosen:
            chosen.append(i)
    return tuple(every[i] for i in sorted(chosen[:MAX_EVIDENCE]))


def _merge(group: _Group) -> Finding:
    members = group.members
    first = members[0]
    occurrences = sum(m.occurrences for m in members) + group.hidden
    if len(members) == 1 and not group.hidden:
        return first
    messages = list(dict.fromkeys(m.message for m in members))
    message = "; ".join(messages[:MAX_MESSAGES])
    if len(messages) > MAX_MESSAGES:
        message += f"; and {len(messages) - MAX_MESSAGES} more different messages"
    n_paths = len(group.paths())
    if n_paths > MAX_EVIDENCE:
        message += f" (in {n_paths:,} files; the evidence names the first {MAX_EVIDENCE})"
    return first.model_copy(
        update={
            "message": message,
            "evidence": _pick_evidence(members),
            "occurrences": occurrences,
        }
    )


def group_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Group repeated findings (see the module docstring); order follows first occurrences."""
    findings = list(findings)
    groups: dict[tuple[object, ...], _Group] = {}
    order: list[tuple[object, ...]] = []
    summaries: list[tuple[Finding, int]] = []
    for f in findings:
        hidden = _not_listed(f)
        if hidden is not None:
            summaries.append((f, hidden))
            continue
        key = _key(f)
        if key not in groups:
            groups[key] = _Group()
            order.append(key)
        groups[key].members.append(f)

    # At high and above, a group spread over more files than the evidence can name
    # is split per file, so that no file name is hidden.
    final: dict[tuple[object, ...], _Group] = {}
    for key in order:
        group = groups[key]
        strict = group.members[0].severity.rank >= Severity.HIGH.rank
        if strict and len(group.paths()) > MAX_EVIDENCE:
            for member in group.members:
                sub = (*key, _paths(member))
                final.setdefault(sub, _Group()).members.append(member)
        else:
            final[key] = group

    # Fold "N more ... not listed" into the group of its rule and file.
    leftovers: list[Finding] = []
    for summary, hidden in summaries:
        path = _paths(summary)[0]
        target = next(
            (
                g
                for g in final.values()
                if g.members[0].rule_id == summary.rule_id
                and g.members[0].severity is summary.severity
                and path in g.paths()
            ),
            None,
        )
        if target is None:
            leftovers.append(summary)
        else:
            target.hidden += hidden

    position = {id(f): i for i, f in enumerate(findings)}
    placed = [(position[id(g.members[0])], _merge(g)) for g in final.values()]
    placed += [(position[id(f)], f) for f in leftovers]
    return tuple(f for _, f in sorted(placed, key=lambda pair: pair[0]))
